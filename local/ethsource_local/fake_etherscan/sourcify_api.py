"""The fake Sourcify server API v2: ``GET /v2/contract/{chainId}/{address}`` and ``GET /chains``, in its format.

No envelope: the HTTP status carries the outcome. A verified contract is 200 with the fields asked for
(``fields=all``, a list, or ``omit``; by default the minimal ones), an unverified one 404 with ``match: null``,
and errors are ``{customCode, message, errorId}``: 400 for a bad parameter, 404 for an unknown chain, 429.
Bytecodes are deterministic placeholders, not compiler output.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sha3 import keccak_256
from starlette.requests import Request
from starlette.responses import Response

from ethsource.addresses import to_checksum

from .chains import CHAINS, chain_id_of
from .corpus import Contract, contract_of
from .shapes import ADDRESS_RE, derived, digest, shape_of, verifier_of

MATCHES = {"sourcify_exact_match": "exact_match", "sourcify_match": "match"}
MINIMAL_FIELDS = ("match", "creationMatch", "runtimeMatch", "chainId", "address", "verifiedAt", "matchId")
# Every field `fields` may name, with the sub-fields a dotted selector may pick.
FIELDS: dict[str, tuple[str, ...]] = {
    "matchId": (),
    "creationMatch": (),
    "runtimeMatch": (),
    "verifiedAt": (),
    "creationBytecode": ("onchainBytecode", "recompiledBytecode", "sourceMap", "linkReferences", "cborAuxdata",
                         "transformations", "transformationValues"),
    "runtimeBytecode": ("onchainBytecode", "recompiledBytecode", "sourceMap", "linkReferences", "cborAuxdata",
                        "immutableReferences", "transformations", "transformationValues"),
    "deployment": ("transactionHash", "blockNumber", "transactionIndex", "deployer"),
    "sources": (),
    "compilation": ("language", "compiler", "compilerVersion", "compilerSettings", "name", "fullyQualifiedName"),
    "abi": (),
    "metadata": (),
    "storageLayout": (),
    "transientStorageLayout": (),
    "userdoc": (),
    "devdoc": (),
    "sourceIds": (),
    "stdJsonInput": (),
    "stdJsonOutput": (),
    "signatures": ("function", "event", "error"),
    "proxyResolution": (),
}
_EPOCH = datetime(2023, 1, 1, tzinfo=UTC)


def contract(request: Request, *, chains: Collection[int], over_limit: Callable[[], bool]) -> Response:
    """Checked in Sourcify's order: its rate limiter, the chain, the address, the field selection."""
    if over_limit():
        return rate_limited()
    raw_chain, address = request.path_params["chain_id"], request.path_params["address"]
    chain_id = chain_id_of(raw_chain)
    if chain_id not in chains:
        return _error(404, "unsupported_chain", f"Chain {raw_chain} not found")
    if not ADDRESS_RE.fullmatch(address):
        return _error(400, "invalid_parameter", f"Invalid address: {address}")
    try:
        select = _selection(request.query_params.get("fields"), request.query_params.get("omit"))
    except ValueError as exc:
        return _error(400, "invalid_parameter", str(exc))
    digits = address[2:].lower()
    answer = _full_answer(chain_id, digits)
    if answer is None:
        missing = {"match": None, "creationMatch": None, "runtimeMatch": None, "chainId": str(chain_id),
                   "address": to_checksum(address)}
        return _json(404, json.dumps(missing).encode())
    if select is None:
        return _json(200, _all_fields_body(chain_id, digits))
    return _json(200, json.dumps(select(answer)).encode())


def chains_list(request: Request, *, chains: Collection[int], over_limit: Callable[[], bool]) -> Response:
    if over_limit():
        return rate_limited()
    listed = [{"name": chain["name"], "title": chain["name"], "chainId": chain["chainid"], "rpc": [],
               "traceSupportedRPCs": [], "supported": True, "etherscanAPI": True}
              for chain in CHAINS if chain["chainid"] in chains]
    return _json(200, json.dumps(listed).encode())


def rate_limited() -> Response:
    return _error(429, "too_many_requests", "You are sending too many requests")


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, json.dumps({"customCode": code, "message": message, "errorId": str(uuid.uuid4())}).encode())


def _json(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def _selection(fields: str | None, omit: str | None) -> Callable[[dict], dict] | None:
    """What to keep of a full answer; None for every field. ValueError names a selector Sourcify refuses."""
    if fields and omit:
        raise ValueError("Cannot specify both fields and omit")
    if fields:
        chosen = fields.split(",")
        if "all" in chosen:
            if len(chosen) > 1:
                raise ValueError("Cannot specify 'all' with other fields")
            return None
        for selector in chosen:
            _validate(selector)
        return lambda answer: _picked(answer, chosen)
    if omit:
        dropped = omit.split(",")
        for selector in dropped:
            _validate(selector)
        return lambda answer: _without(answer, dropped)
    return lambda answer: _picked(answer, [])


def _validate(selector: str) -> None:
    parts = selector.split(".")
    if len(parts) > 2:
        raise ValueError(f"Field selector cannot have more than one level subselectors: {selector}")
    if parts[0] not in FIELDS or (len(parts) == 2 and parts[1] not in FIELDS[parts[0]]):
        raise ValueError(f"Field selector {selector} is not a valid field")


def _picked(answer: dict, selectors: list[str]) -> dict:
    picked = {key: answer[key] for key in MINIMAL_FIELDS}
    for selector in selectors:
        field, _, sub = selector.partition(".")
        if sub:
            picked.setdefault(field, {})[sub] = answer[field][sub]
        else:
            picked[field] = answer[field]
    return picked


def _without(answer: dict, selectors: list[str]) -> dict:
    kept = dict(answer)
    for selector in selectors:
        field, _, sub = selector.partition(".")
        if sub:
            kept[field] = {key: value for key, value in kept[field].items() if key != sub}
        elif field not in MINIMAL_FIELDS:
            kept.pop(field, None)
    return kept


@lru_cache(maxsize=1024)
def _all_fields_body(chain_id: int, digits: str) -> bytes:
    return json.dumps(_full_answer(chain_id, digits)).encode()


@lru_cache(maxsize=1024)
def _full_answer(chain_id: int, digits: str) -> dict | None:
    """Every field of a contract Sourcify verifies, in the order it lists them; None when it verifies none."""
    address = "0x" + digits
    match = MATCHES.get(shape_of(address))
    if match is None:
        return None
    contract = contract_of(chain_id, address)
    h = digest(digits, "sourcify:")
    settings = {key: value for key, value in contract.settings.items() if key != "outputSelection"}
    sources = {path: {"content": content} for path, content in contract.files.items()}
    source_ids = {path: {"id": n} for n, path in enumerate(contract.files)}
    userdoc, devdoc = {"kind": "user", "methods": {}, "version": 1}, {"kind": "dev", "methods": {}, "version": 1}
    metadata = _compiler_metadata(contract, settings, userdoc, devdoc)
    creation, runtime = _placeholder_code(digits, "creation"), _placeholder_code(digits, "runtime")
    compilation = {
        "language": contract.language,
        "compiler": "solc" if contract.language == "Solidity" else "vyper",
        "compilerVersion": contract.compiler_version,
        "compilerSettings": settings,
        "name": contract.name,
        "fullyQualifiedName": f"{contract.main_path}:{contract.name}",
    }
    return {
        "match": match,
        "creationMatch": match,
        "runtimeMatch": match,
        "chainId": str(chain_id),
        "address": to_checksum(address),
        "verifiedAt": (_EPOCH + timedelta(seconds=int.from_bytes(h[:3]) * 4)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "matchId": str(int.from_bytes(h[3:6])),
        "creationBytecode": {
            "onchainBytecode": creation + contract.constructor_args,
            "recompiledBytecode": creation,
            "sourceMap": "",
            "linkReferences": {},
            "cborAuxdata": {},
            "transformations": [{"type": "insert", "offset": (len(creation) - 2) // 2,
                                 "reason": "constructorArguments"}],
            "transformationValues": {"constructorArguments": "0x" + contract.constructor_args},
        },
        "runtimeBytecode": {
            "onchainBytecode": runtime,
            "recompiledBytecode": runtime,
            "sourceMap": "",
            "linkReferences": {},
            "cborAuxdata": {},
            "immutableReferences": {},
            "transformations": [],
            "transformationValues": {},
        },
        "deployment": {
            "transactionHash": "0x" + digest(digits, "deployment:").hex(),
            "blockNumber": str(15_000_000 + int.from_bytes(h[6:9])),
            "transactionIndex": str(h[9]),
            "deployer": to_checksum("0x" + derived(digits, "owner")),
        },
        "sources": sources,
        "compilation": compilation,
        "abi": contract.abi,
        "metadata": metadata,
        "storageLayout": None,
        "transientStorageLayout": None,
        "userdoc": userdoc,
        "devdoc": devdoc,
        "sourceIds": source_ids,
        "stdJsonInput": {"language": contract.language, "sources": sources, "settings": settings},
        "stdJsonOutput": {
            "sources": source_ids,
            "contracts": {contract.main_path: {contract.name: {
                "abi": contract.abi, "metadata": json.dumps(metadata), "userdoc": userdoc, "devdoc": devdoc,
                "evm": {"bytecode": {"object": creation[2:], "sourceMap": "", "linkReferences": {}},
                        "deployedBytecode": {"object": runtime[2:], "sourceMap": "", "linkReferences": {},
                                             "immutableReferences": {}}},
            }}},
        },
        "signatures": _signatures(contract.abi),
        "proxyResolution": _proxy_resolution(chain_id, contract),
    }


def _compiler_metadata(contract: Contract, settings: dict, userdoc: dict, devdoc: dict) -> dict:
    """The compiler's metadata.json, which Sourcify verifies against."""
    return {
        "compiler": {"version": contract.compiler_version},
        "language": contract.language,
        "output": {"abi": contract.abi, "devdoc": devdoc, "userdoc": userdoc},
        "settings": {**settings, "compilationTarget": {contract.main_path: contract.name}},
        "sources": {path: {"keccak256": "0x" + _keccak(content), "license": contract.license,
                           "urls": [f"dweb:/ipfs/{_keccak(path + content)[:46]}"]}
                    for path, content in contract.files.items()},
        "version": 1,
    }


def _proxy_resolution(chain_id: int, contract: Contract) -> dict:
    if contract.implementation is None:
        return {"isProxy": False, "proxyType": None, "implementations": []}
    implementation = {"address": to_checksum(contract.implementation)}
    # Sourcify names an implementation only when it verifies that contract too.
    if verifier_of(contract.implementation) == "sourcify":
        implementation["name"] = contract_of(chain_id, contract.implementation).name
    return {"isProxy": True, "proxyType": "EIP1967Proxy", "implementations": [implementation]}


def _signatures(abi: list) -> dict:
    signatures: dict[str, list] = {"function": [], "event": [], "error": []}
    for entry in abi:
        if entry.get("type") in signatures:
            text = f"{entry['name']}({','.join(_canonical_type(p) for p in entry.get('inputs', []))})"
            hash32 = "0x" + _keccak(text)
            signatures[entry["type"]].append({"signature": text, "signatureHash32": hash32,
                                              "signatureHash4": hash32[:10]})
    return signatures


def _canonical_type(param: dict) -> str:
    kind = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_canonical_type(c) for c in param["components"]) + ")" + kind[len("tuple"):]
    return kind


def _keccak(text: str) -> str:
    return keccak_256(text.encode()).hexdigest()


def _placeholder_code(digits: str, label: str) -> str:
    return "0x6080604052" + digest(digits, label + ":").hex() * 4

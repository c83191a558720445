"""The fake Blockscout REST API v2: ``GET /api/v2/smart-contracts/{address}`` of one instance per chain.

A contract Blockscout verifies is 200 with its sources and compiler facts; a contract it does not verify is 200
too, with only what Blockscout sees on chain (bytecode, a proxy's implementations); an address that is no
contract (here: Etherscan's error shapes) is 404 ``{"message": "Not found"}``; a malformed one is 422. Field
names are those of current Blockscout releases (``implementations[].address_hash``, ``abi`` as a list).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ethsource.addresses import to_checksum

from .chains import chain_id_of
from .corpus import Contract, contract_of
from .shapes import ADDRESS_RE, ERROR_SHAPES, digest, implementation_hex, shape_of

_LICENSE_TYPES = {"MIT": "mit", "GPL-3.0-or-later": "gnu_gpl_v3", "UNLICENSED": "none"}
_EPOCH = datetime(2023, 1, 1, tzinfo=UTC)


def smart_contract(request: Request, *, chains: Collection[int], over_limit: Callable[[], bool]) -> Response:
    if over_limit():
        return rate_limited()
    chain_id = chain_id_of(request.path_params["chain_id"])
    if chain_id not in chains:  # no instance serves that chain: the host's own 404 page
        return PlainTextResponse("404 page not found", status_code=404)
    address = request.path_params["address"]
    if not ADDRESS_RE.fullmatch(address):
        return _json(422, {"message": "Invalid parameter(s)"})
    if shape_of(address) in ERROR_SHAPES:
        return _json(404, {"message": "Not found"})
    return Response(_answer_body(chain_id, address[2:].lower()), media_type="application/json")


def rate_limited() -> Response:
    return _json(429, {"message": "Too Many Requests"})


def _json(status: int, answer: dict) -> Response:
    return Response(json.dumps(answer).encode(), status_code=status, media_type="application/json")


@lru_cache(maxsize=1024)
def _answer_body(chain_id: int, digits: str) -> bytes:
    address = "0x" + digits
    contract = contract_of(chain_id, address)
    on_chain = {
        "has_custom_methods_read": False,
        "has_custom_methods_write": False,
        "proxy_type": "eip1967" if contract.implementation else None,
        # A proxy's implementation is read from chain, so Blockscout lists it whether or not it verifies the proxy.
        "implementations": ([{"address_hash": to_checksum("0x" + implementation_hex(digits)), "name": None}]
                            if contract.implementation else []),
        "is_self_destructed": False,
        "deployed_bytecode": "0x6080604052" + digest(digits, "runtime:").hex() * 4,
        "creation_bytecode": "0x6080604052" + digest(digits, "creation:").hex() * 4,
    }
    if shape_of(address) != "blockscout":
        return json.dumps(on_chain).encode()
    return json.dumps({**_verified(contract, digits), **on_chain}).encode()


def _verified(contract: Contract, digits: str) -> dict:
    h = digest(digits, "blockscout:")
    fully = h[0] % 2 == 0
    vyper = contract.language == "Vyper"
    main = contract.files[contract.main_path]
    return {
        "verified_twin_address_hash": None,
        "is_verified": True,
        "is_changed_bytecode": False,
        "is_partially_verified": not fully,
        "is_fully_verified": fully,
        "is_verified_via_sourcify": False,
        "is_verified_via_eth_bytecode_db": False,
        "is_verified_via_verifier_alliance": False,
        "is_vyper_contract": vyper,
        "has_methods_read": True,
        "has_methods_write": True,
        "has_methods_read_proxy": contract.implementation is not None,
        "has_methods_write_proxy": contract.implementation is not None,
        "sourcify_repo_url": None,
        "can_be_visualized_via_sol2uml": not vyper,
        "name": contract.name,
        "compiler_version": "v" + contract.compiler_version,
        "optimization_enabled": contract.optimized,
        "optimization_runs": contract.runs,
        "evm_version": contract.settings.get("evmVersion", "default"),
        "verified_at": (_EPOCH + timedelta(seconds=int.from_bytes(h[1:4]) * 4)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "abi": contract.abi,
        "source_code": main,
        "file_path": contract.main_path,
        "additional_sources": [{"source_code": content, "file_path": path}
                               for path, content in contract.files.items() if path != contract.main_path],
        "compiler_settings": {key: value for key, value in contract.settings.items() if key != "outputSelection"},
        "external_libraries": [{"name": name, "address_hash": to_checksum(address)}
                               for name, address in contract.libraries.items()],
        "constructor_args": contract.constructor_args,
        "decoded_constructor_args": None,
        "language": "vyper" if vyper else "solidity",
        "license_type": _LICENSE_TYPES[contract.license],
        "certified": False,
        "is_blueprint": False,
    }

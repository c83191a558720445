"""Blockscout REST API v2 answers (`GET {instance}/api/v2/smart-contracts/{address}`) turned into a source tree.

Pure parsing: the scanner makes the call (at `contract_url`, on the chain's instance) and hands over the status
and the body. A verified contract is 200 with `source_code` at `file_path` and the rest in `additional_sources`;
a contract Blockscout does not verify is 200 without them (`is_verified` false, or only on-chain facts); an
address that is no contract is 404 `{"message": "Not found"}`. Fields vary between Blockscout releases, so
unknown ones are ignored and every optional one may be missing.
"""

import json

from .sources.answers import json_answer, refused
from .sources.fields import (
    DEFAULT_EVM,
    NO_LICENSE,
    flag,
    known,
    language_name,
    mapping,
    number,
    sequence,
    text,
    without_0x,
)
from .sources.model import ContractSource, SourceError
from .sources.tree import assemble

PROVIDER = "blockscout"
# Blockscout's own fields kept under metadata["blockscout"]: how and when it verified the contract, and what
# it knows of a proxy. Bytecode and rendering hints are left out.
_KEPT_FIELDS = ("verified_at", "is_verified", "is_fully_verified", "is_partially_verified", "is_changed_bytecode",
                "is_verified_via_sourcify", "is_verified_via_eth_bytecode_db", "is_verified_via_verifier_alliance",
                "sourcify_repo_url", "verified_twin_address_hash", "is_blueprint", "certified", "license_type",
                "proxy_type", "implementations", "external_libraries", "file_path")


def contract_url(instance_url: str, address: str) -> str:
    return f"{instance_url.rstrip('/')}/api/v2/smart-contracts/{address}"


def parse_contract(status_code: int, body: bytes) -> ContractSource:
    """The contract in Blockscout's answer.

    Raises SourceError `not_verified` (no contract there, or one Blockscout does not verify) or `invalid_source`
    (an answer that cannot be a source tree), or ProviderError: `blockscout_rate_limited` and
    `blockscout_unavailable` (transient), `blockscout_error` (final: a refused request, or a 404 that is not
    Blockscout's JSON, as from a wrong instance URL).
    """
    document = json_answer(PROVIDER, status_code, body)
    if status_code == 404 and isinstance(document, dict):
        raise SourceError("not_verified", "Blockscout knows no contract at this address")
    if status_code != 200:
        raise refused(PROVIDER, status_code, document)
    if not isinstance(document, dict):
        raise SourceError("invalid_source", "the Blockscout answer is not an object")
    return parse_smart_contract(document)


def parse_smart_contract(document: dict) -> ContractSource:
    """A 200 answer's document."""
    main_source = text(document, "source_code")
    if flag(document, "is_verified") is False or not main_source.strip():
        # Blockscout may show the sources of a verified contract with the same bytecode: not this one's.
        raise SourceError("not_verified", "the contract's source code is not verified on Blockscout")
    raw_language = text(document, "language")
    language = language_name(raw_language) if raw_language else (
        "Vyper" if flag(document, "is_vyper_contract") else "Solidity")
    vyper = language == "Vyper"
    name = text(document, "name")
    main_path = text(document, "file_path") or name + (".vy" if vyper else ".sol")
    implementations = sequence(document, "implementations") or []
    implementation = _address(implementations[0], "implementation") if implementations else None
    fully, partially = flag(document, "is_fully_verified"), flag(document, "is_partially_verified")
    runs_field = "optimization_runs" if "optimization_runs" in document else "optimizations_runs"  # older releases
    return assemble(
        [(main_path, main_source), *map(_additional_source, sequence(document, "additional_sources") or [])],
        _abi_json(document),
        provider=PROVIDER,
        vyper=vyper,
        contract_name=name or None,
        contract_file_name=main_path,
        language=language,
        compiler_version=text(document, "compiler_version") or None,
        optimizer={"enabled": flag(document, "optimization_enabled") is True, "runs": number(document, runs_field)},
        evm_version=known(text(document, "evm_version"), DEFAULT_EVM),
        license=known(text(document, "license_type"), NO_LICENSE),
        constructor_arguments=without_0x(text(document, "constructor_args")),
        library_links=dict(map(_library, sequence(document, "external_libraries") or [])),
        proxy=bool(text(document, "proxy_type") or implementations),
        implementation=implementation,
        settings=mapping(document, "compiler_settings"),
        match="exact_match" if fully else "match" if partially else None,
        provider_fields={key: document[key] for key in _KEPT_FIELDS if key in document},
    )


def _additional_source(entry: object) -> tuple[str, str]:
    if not isinstance(entry, dict):
        raise SourceError("invalid_source", "an additional source is not an object")
    return text(entry, "file_path"), text(entry, "source_code")


def _library(entry: object) -> tuple[str, str]:
    address = _address(entry, "library")
    return text(entry, "name"), address


def _address(entry: object, what: str) -> str:
    """`address_hash` in current releases, `address` in older ones."""
    if not isinstance(entry, dict):
        raise SourceError("invalid_source", f"a {what} entry is not an object")
    address = text(entry, "address_hash") or text(entry, "address")
    if not address:
        raise SourceError("invalid_source", f"a {what} entry has no address")
    return address


def _abi_json(document: dict) -> str | None:
    """A list in current releases; some answer it as a JSON string, kept as it is."""
    abi = document.get("abi")
    if isinstance(abi, str):
        return abi
    return json.dumps(abi) if isinstance(abi, list) else None

"""Etherscan's `getsourcecode` result item turned into a source tree.

Etherscan's `SourceCode` comes as plain text, as a JSON object of files, or as standard-JSON compiler
input (sometimes wrapped in an extra pair of braces), for Solidity and Vyper. Every field is a string.
"""

import re

from .fields import DEFAULT_EVM, NO_LICENSE, decode, known, mapping, text
from .model import ContractSource, SourceError
from .tree import assemble, files_of

NOT_VERIFIED_ABI = "Contract source code not verified"


def parse_item(item: dict) -> ContractSource:
    """Parse one element of `result`; raises SourceError when it holds no usable source."""
    if not isinstance(item, dict):
        raise SourceError("invalid_source", "the Etherscan result item is not an object")
    source_code = text(item, "SourceCode")
    abi_text = text(item, "ABI")
    if abi_text.strip() == NOT_VERIFIED_ABI or not source_code.strip():
        raise SourceError("not_verified", "the contract's source code is not verified on the explorer")

    compiler_version = text(item, "CompilerVersion")
    vyper = compiler_version.lower().startswith("vyper")
    settings = None
    stripped = source_code.strip()
    if stripped.startswith("{"):
        document = _source_json(stripped)
        if "language" in document and "sources" in document:
            vyper = vyper or str(document["language"]).lower() == "vyper"
            raw_files = files_of(_required_object(document, "sources"))
            if "interfaces" in document:
                raw_files += files_of(_required_object(document, "interfaces"))
            settings = mapping(document, "settings")
        else:
            raw_files = files_of(document)
    else:
        name = text(item, "ContractFileName") or text(item, "ContractName") + (".vy" if vyper else ".sol")
        raw_files = [(name, source_code)]

    return assemble(
        raw_files,
        abi_text or None,
        provider="etherscan",
        vyper=vyper,
        contract_name=text(item, "ContractName") or None,
        contract_file_name=text(item, "ContractFileName") or None,
        language="Vyper" if vyper else "Solidity",
        compiler_version=compiler_version or None,
        optimizer={"enabled": text(item, "OptimizationUsed") == "1", "runs": _runs(text(item, "Runs"))},
        evm_version=known(text(item, "EVMVersion"), DEFAULT_EVM),
        license=known(text(item, "LicenseType"), NO_LICENSE),
        constructor_arguments=text(item, "ConstructorArguments").strip() or None,
        library_links=_library_links(text(item, "Library")),
        proxy=text(item, "Proxy") == "1",
        implementation=text(item, "Implementation").strip() or None,
        settings=settings,
        swarm_source=text(item, "SwarmSource").strip() or None,
    )


def _source_json(text: str) -> dict:
    # Standard-JSON input comes wrapped in one extra pair of braces, which makes it invalid JSON as is.
    if text.startswith("{{") and text.endswith("}}"):
        text = text[1:-1]
    try:
        document = decode(text)
    except ValueError as exc:
        raise SourceError("invalid_source", f"the source code looks like JSON but does not parse: {exc}") from None
    if not isinstance(document, dict):
        raise SourceError("invalid_source", "the source code JSON is not an object")
    return document


def _required_object(document: dict, key: str) -> dict:
    value = document[key]
    if not isinstance(value, dict):
        raise SourceError("invalid_source", f"the standard JSON field {key!r} is not an object")
    return value


def _runs(value: str) -> int | None:
    value = value.strip()
    return int(value) if re.fullmatch("[0-9]+", value) else None


def _library_links(value: str) -> dict[str, str]:
    """`SafeMath:0x…` or `Lib1:0x…;Lib2:0x…` -> {name: address}; entries without both parts are skipped."""
    links = {}
    for entry in re.split(r"[;,]", value):
        name, _, address = entry.partition(":")
        if name.strip() and address.strip():
            links[name.strip()] = address.strip()
    return links


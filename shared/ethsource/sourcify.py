"""Sourcify API v2 answers (`GET /v2/contract/{chainId}/{address}?fields=all`) turned into a source tree.

Pure parsing: the scanner makes the call (at `contract_url`) and hands over the status and the body. There is
no envelope, the status carries the meaning: 200 is a verified contract, 404 with `match: null` one Sourcify
does not verify, and errors are `{customCode, message, errorId}` (400; 404 `unsupported_chain`; 429; 5xx).
"""

import json
import re

from .sources.answers import json_answer, refused
from .sources.fields import (
    DEFAULT_EVM,
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
from .sources.tree import assemble, files_of

PROVIDER = "sourcify"
DEFAULT_API_URL = "https://sourcify.dev/server"
# Sourcify's own fields kept under metadata["sourcify"]; the compilation's too, but its settings, which are
# metadata["settings"] already.
_KEPT_FIELDS = ("matchId", "match", "creationMatch", "runtimeMatch", "verifiedAt", "chainId", "address",
                "deployment", "proxyResolution", "metadata")
# A Solidity SPDX comment, or a Vyper NatSpec `@license` line.
_LICENSE = re.compile(r"SPDX-License-Identifier:\s*([^\s*]+)|^\s*@license\s+(\S.*?)\s*$", re.M)


def contract_url(base_url: str, chain_id: int, address: str) -> str:
    return f"{base_url.rstrip('/')}/v2/contract/{chain_id}/{address}?fields=all"


def parse_contract(status_code: int, body: bytes) -> ContractSource:
    """The contract in Sourcify's answer.

    Raises SourceError `not_verified` (Sourcify does not verify it) or `invalid_source` (an answer that cannot
    be a source tree), or ProviderError: `sourcify_rate_limited` and `sourcify_unavailable` (transient),
    `unsupported_chain` and `sourcify_error` (final).
    """
    document = json_answer(PROVIDER, status_code, body)
    if status_code == 404:
        if isinstance(document, dict) and "match" in document and document["match"] is None:
            raise SourceError("not_verified", "the contract's source code is not verified on Sourcify")
        unsupported = isinstance(document, dict) and document.get("customCode") == "unsupported_chain"
        raise refused(PROVIDER, status_code, document, "unsupported_chain" if unsupported else None)
    if status_code != 200:
        raise refused(PROVIDER, status_code, document)
    if not isinstance(document, dict):
        raise SourceError("invalid_source", "the Sourcify answer is not an object")
    return parse_verified(document)


def parse_verified(document: dict) -> ContractSource:
    """A 200 answer's document (asked with `fields=all`)."""
    if "match" in document and document["match"] is None:
        raise SourceError("not_verified", "the contract's source code is not verified on Sourcify")
    sources = mapping(document, "sources")
    if not sources:
        raise SourceError("invalid_source", "the Sourcify answer has no sources (was it asked for fields=all?)")
    compilation = mapping(document, "compilation") or {}
    settings = mapping(compilation, "compilerSettings")
    main_path, _, qualified_name = text(compilation, "fullyQualifiedName").rpartition(":")
    language = language_name(text(compilation, "language"))
    proxy_resolution = mapping(document, "proxyResolution") or {}
    return assemble(
        files_of(sources),
        _abi_json(document),
        provider=PROVIDER,
        vyper=language == "Vyper",
        contract_name=text(compilation, "name") or qualified_name or None,
        contract_file_name=main_path or None,
        language=language,
        compiler_version=text(compilation, "compilerVersion") or None,
        optimizer=_optimizer(settings or {}, language),
        evm_version=known(text(settings or {}, "evmVersion"), DEFAULT_EVM),
        license=_declared_license(sources.get(main_path)),
        constructor_arguments=_constructor_arguments(document),
        library_links=_library_links(settings or {}),
        proxy=flag(proxy_resolution, "isProxy") is True,
        implementation=_first_implementation(proxy_resolution),
        settings=settings,
        match=text(document, "match") or None,
        provider_fields={
            **{key: document[key] for key in _KEPT_FIELDS if key in document},
            "compilation": {key: value for key, value in compilation.items() if key != "compilerSettings"},
        },
    )


def _optimizer(settings: dict, language: str) -> dict:
    if language == "Vyper":
        # Vyper's `optimize` is a boolean before 0.3.10 and "gas", "codesize" or "none" since; it optimizes by default.
        return {"enabled": settings.get("optimize", True) not in (False, "none"), "runs": None}
    optimizer = mapping(settings, "optimizer") or {}
    return {"enabled": flag(optimizer, "enabled") is True, "runs": number(optimizer, "runs")}


def _declared_license(main_entry: object) -> str | None:
    """The license the main file declares (Sourcify has no license field of its own)."""
    content = main_entry.get("content") if isinstance(main_entry, dict) else None
    found = _LICENSE.search(content) if isinstance(content, str) else None
    return (found.group(1) or found.group(2)) if found else None


def _constructor_arguments(document: dict) -> str | None:
    creation = mapping(document, "creationBytecode") or {}
    values = mapping(creation, "transformationValues") or {}
    return without_0x(text(values, "constructorArguments"))


def _library_links(settings: dict) -> dict[str, str]:
    """Compiler settings' `libraries`, `{file: {name: address}}` or `{"file:name": address}`, as {name: address}."""
    links = {}
    for key, value in (mapping(settings, "libraries") or {}).items():
        entries = value.items() if isinstance(value, dict) else [(key.rpartition(":")[2], value)]
        for name, address in entries:
            if not isinstance(address, str):
                raise SourceError("invalid_source", f"the address of library {name!r} is not a string")
            links[name] = address
    return links


def _first_implementation(proxy_resolution: dict) -> str | None:
    implementations = sequence(proxy_resolution, "implementations") or []
    if not implementations:
        return None
    if not isinstance(implementations[0], dict):
        raise SourceError("invalid_source", "a proxy implementation is not an object")
    return text(implementations[0], "address") or None


def _abi_json(document: dict) -> str | None:
    abi = sequence(document, "abi")
    return json.dumps(abi) if abi is not None else None

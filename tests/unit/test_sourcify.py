"""Parsing Sourcify API v2 answers: verified contracts, proxies, Vyper, not-verified, errors and hostile bodies."""

import copy
import json

import httpx
import pytest

from ethsource import sourcify
from ethsource.sources import ProviderError, SourceError, to_zip
from ethsource_local.fake_etherscan import (
    ETHERSCAN_SHAPES,
    address_with_shape,
    contract_of,
    expected_files,
    explorer_urls,
    running,
)
from tests.unit.source_checks import METADATA_KEYS, assert_archive_is_safe

ADDRESS = "0xDFEBAd708F803af22e81044aD228Ff77C83C935c"
STORAGE = "// SPDX-License-Identifier: GPL-3.0\npragma solidity ^0.8.0;\n\ncontract Storage { uint256 number; }\n"
OWNER = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\n\ncontract Owner { address public owner; }\n"
ABI = [{"inputs": [], "name": "number", "outputs": [{"type": "uint256"}], "stateMutability": "view",
        "type": "function"}]
SETTINGS = {
    "optimizer": {"enabled": True, "runs": 800},
    "evmVersion": "paris",
    "libraries": {"contracts/Maths.sol": {"Maths": "0x40b70a4904fad0ff86f8c901b231eac759a0ebb0"}},
    "remappings": [],
}
# A `fields=all` answer in Sourcify's format (trimmed of what the parser never reads, like bytecodes).
VERIFIED = {
    "match": "exact_match",
    "creationMatch": "exact_match",
    "runtimeMatch": "match",
    "chainId": "11155111",
    "address": ADDRESS,
    "verifiedAt": "2024-07-24T12:00:00Z",
    "matchId": "3266227",
    "creationBytecode": {
        "onchainBytecode": "0x6080",
        "transformations": [{"type": "insert", "offset": 2, "reason": "constructorArguments"}],
        "transformationValues": {
            "constructorArguments": "0x00000000000000000000000085fe79b998509b77bf10a8bd4001d58475d29386",
        },
    },
    "deployment": {"transactionHash": "0xb6ee9d528b336942dd70d3b41e2811be10a473776352009fd73f85604f5ed206",
                   "blockNumber": "21721660", "transactionIndex": "0", "deployer": ADDRESS},
    "sources": {"contracts/Storage.sol": {"content": STORAGE}, "contracts/Owner.sol": {"content": OWNER}},
    "compilation": {
        "language": "Solidity",
        "compiler": "solc",
        "compilerVersion": "0.8.12+commit.f00d7308",
        "compilerSettings": SETTINGS,
        "name": "Storage",
        "fullyQualifiedName": "contracts/Storage.sol:Storage",
    },
    "abi": ABI,
    "metadata": {"compiler": {"version": "0.8.12+commit.f00d7308"}, "language": "Solidity", "version": 1},
    "userdoc": {},
    "devdoc": {},
    "proxyResolution": {"isProxy": False, "proxyType": None, "implementations": []},
}
NOT_VERIFIED = {"match": None, "creationMatch": None, "runtimeMatch": None, "chainId": "1", "address": ADDRESS}


def body(document) -> bytes:
    return json.dumps(document).encode()


def verified(**changes) -> dict:
    document = copy.deepcopy(VERIFIED)
    document.update(changes)
    return document


def compiled(**changes) -> dict:
    return verified(compilation={**VERIFIED["compilation"], **changes})


def error(code: str, message: str) -> bytes:
    return body({"customCode": code, "message": message, "errorId": "1ac6b91a-0605-4459-93dc-18f210a70192"})


def parse(document, status: int = 200):
    return sourcify.parse_contract(status, body(document))


# --- a verified contract ----------------------------------------------------------------------


def test_a_verified_contract_becomes_a_tree_in_sourcifys_order():
    source = parse(VERIFIED)
    assert source.files == {"contracts/Storage.sol": STORAGE, "contracts/Owner.sol": OWNER}
    assert list(source.files) == ["contracts/Storage.sol", "contracts/Owner.sol"]
    assert source.abi == ABI
    assert source.provider == "sourcify"


def test_its_metadata_has_every_key_filled_from_the_compilation():
    meta = parse(VERIFIED).metadata
    assert set(meta) == METADATA_KEYS | {"sourcify"}
    assert (meta["contract_name"], meta["contract_file_name"]) == ("Storage", "contracts/Storage.sol")
    assert (meta["language"], meta["compiler_version"]) == ("Solidity", "0.8.12+commit.f00d7308")
    assert meta["optimizer"] == {"enabled": True, "runs": 800}
    assert meta["evm_version"] == "paris"
    assert meta["license"] == "GPL-3.0"  # what the main file declares
    assert meta["constructor_arguments"] == "00000000000000000000000085fe79b998509b77bf10a8bd4001d58475d29386"
    assert meta["library_links"] == {"Maths": "0x40b70a4904fad0ff86f8c901b231eac759a0ebb0"}
    assert meta["settings"] == SETTINGS
    assert meta["match"] == "exact_match"
    assert (meta["proxy"], meta["implementation"], meta["swarm_source"]) == (False, None, None)
    assert meta["path_changes"] == {}


def test_sourcifys_own_fields_are_kept_under_its_name():
    kept = parse(VERIFIED).metadata["sourcify"]
    assert (kept["matchId"], kept["verifiedAt"], kept["runtimeMatch"]) == ("3266227", "2024-07-24T12:00:00Z", "match")
    assert kept["deployment"]["blockNumber"] == "21721660"
    assert kept["metadata"] == VERIFIED["metadata"]  # the compiler's metadata.json
    assert kept["compilation"]["compiler"] == "solc" and "compilerSettings" not in kept["compilation"]
    assert "sources" not in kept and "abi" not in kept


def test_library_links_read_the_flat_file_colon_name_form_too():
    settings = {**SETTINGS, "libraries": {"contracts/Maths.sol:Maths": "0x1111111111111111111111111111111111111111"}}
    links = parse(compiled(compilerSettings=settings)).metadata["library_links"]
    assert links == {"Maths": "0x1111111111111111111111111111111111111111"}


def test_a_proxy_points_at_its_first_implementation():
    resolution = {"isProxy": True, "proxyType": "EIP1967Proxy", "implementations": [
        {"address": "0x751D7C0Cf91a9b7704541b44E5fF7BeC3D2caA6F", "name": "Logic"},
        {"address": "0x2222222222222222222222222222222222222222"}]}
    source = parse(verified(proxyResolution=resolution))
    assert source.proxy is True
    assert source.implementation_address == "0x751D7C0Cf91a9b7704541b44E5fF7BeC3D2caA6F"
    assert source.metadata["sourcify"]["proxyResolution"] == resolution


def test_a_failed_proxy_resolution_is_no_proxy():
    failed = {"proxyResolutionError": {"customCode": "proxy_resolution_error", "message": "RPC failed",
                                       "errorId": "1ac6b91a-0605-4459-93dc-18f210a70192"}}
    source = parse(verified(proxyResolution=failed))
    assert (source.proxy, source.implementation_address) == (False, None)


@pytest.mark.parametrize(("optimize", "enabled"), [("gas", True), ("codesize", True), ("none", False),
                                                    (True, True), (False, False), (None, True)])
def test_vyper_reads_its_optimize_setting(optimize, enabled):
    settings = {"evmVersion": "cancun"} | ({} if optimize is None else {"optimize": optimize})
    source = parse(verified(
        sources={"contracts/Vault.vy": {"content": "# pragma version ~=0.4.0\n\"\"\"\n@license MIT\n\"\"\"\n"}},
        compilation={"language": "Vyper", "compiler": "vyper", "compilerVersion": "0.4.0+commit.e9db8d9",
                     "compilerSettings": settings, "name": "Vault", "fullyQualifiedName": "contracts/Vault.vy:Vault"},
    ))
    assert source.language == "Vyper"
    assert source.metadata["optimizer"] == {"enabled": enabled, "runs": None}
    assert source.metadata["license"] == "MIT"  # Vyper's NatSpec @license


def test_missing_optional_fields_read_as_unknown():
    minimal = {"match": "match", "sources": {"A.sol": {"content": "contract A {}\n"}}}
    meta = parse(minimal).metadata
    assert (meta["contract_name"], meta["contract_file_name"], meta["compiler_version"]) == (None, None, None)
    assert meta["optimizer"] == {"enabled": False, "runs": None}
    assert (meta["evm_version"], meta["license"], meta["settings"], meta["match"]) == (None, None, None, "match")
    assert parse(minimal).abi is None


# --- not verified, and failures ---------------------------------------------------------------


def test_a_404_with_a_null_match_is_not_verified():
    with pytest.raises(SourceError) as raised:
        parse(NOT_VERIFIED, 404)
    assert raised.value.code == "not_verified"


def test_a_200_with_a_null_match_is_not_verified_either():
    with pytest.raises(SourceError) as raised:
        parse(NOT_VERIFIED)
    assert raised.value.code == "not_verified"


def test_an_unsupported_chain_is_a_final_error_of_its_own():
    with pytest.raises(ProviderError) as raised:
        sourcify.parse_contract(404, error("unsupported_chain", "Chain 9429413 not found"))
    assert (raised.value.code, raised.value.transient, raised.value.provider) == ("unsupported_chain", False,
                                                                                 "sourcify")
    assert "Chain 9429413 not found" in raised.value.message


@pytest.mark.parametrize(("status", "answer"), [
    (400, error("invalid_parameter", "Invalid address: 0x1234")),
    (404, error("route_not_found", "The requested route was not found")),
    (404, b"<html><body>Cannot GET /v2/contract</body></html>"),  # not Sourcify at that URL
    (403, b"Forbidden"),
])
def test_a_refused_request_is_a_final_sourcify_error(status, answer):
    with pytest.raises(ProviderError) as raised:
        sourcify.parse_contract(status, answer)
    assert (raised.value.code, raised.value.transient) == ("sourcify_error", False)
    assert f"HTTP {status}" in raised.value.message


def test_a_refusal_quotes_sourcifys_reason():
    with pytest.raises(ProviderError) as raised:
        sourcify.parse_contract(400, error("invalid_parameter", "Invalid address: 0x1234"))
    assert raised.value.message == "Sourcify answered HTTP 400 (invalid_parameter: Invalid address: 0x1234)"


@pytest.mark.parametrize(("status", "answer", "code"), [
    (429, error("too_many_requests", "You are sending too many requests"), "sourcify_rate_limited"),
    (500, error("internal_error", "Something went wrong"), "sourcify_unavailable"),
    (502, b"<html><head><title>502 Bad Gateway</title></head></html>", "sourcify_unavailable"),
    (503, b"", "sourcify_unavailable"),
    (200, b"<!DOCTYPE html><html><title>Just a moment...</title></html>", "sourcify_unavailable"),
    (200, body(VERIFIED)[:200], "sourcify_unavailable"),  # cut short
    (200, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "sourcify_unavailable"),  # too deep to be an answer
])
def test_passing_faults_are_transient(status, answer, code):
    with pytest.raises(ProviderError) as raised:
        sourcify.parse_contract(status, answer)
    assert (raised.value.code, raised.value.transient) == (code, True)


# --- answers that cannot be a tree -----------------------------------------------------------


@pytest.mark.parametrize("document", [
    [VERIFIED],
    "verified",
    verified(sources={}),
    {k: v for k, v in VERIFIED.items() if k != "sources"},
    verified(sources=[["contracts/Storage.sol", STORAGE]]),
    verified(sources={"contracts/Storage.sol": STORAGE}),
    verified(sources={"contracts/Storage.sol": {"content": 42}}),
    verified(compilation="Storage"),
    compiled(compilerSettings=["optimizer"]),
    compiled(fullyQualifiedName={"path": "contracts/Storage.sol"}),
    compiled(compilerVersion=8),
    compiled(compilerSettings={"optimizer": {"enabled": "yes"}}),
    compiled(compilerSettings={"optimizer": {"runs": "200"}}),
    compiled(compilerSettings={"libraries": {"Maths.sol": {"Maths": 7}}}),
    verified(abi={"type": "function"}),
    verified(match=1),
    verified(proxyResolution={"isProxy": "yes"}),
    verified(proxyResolution={"isProxy": True, "implementations": "0x751D7C0Cf91a9b7704541b44E5fF7BeC3D2caA6F"}),
    verified(proxyResolution={"isProxy": True, "implementations": ["0x751D7C0Cf91a9b7704541b44E5fF7BeC3D2caA6F"]}),
    verified(creationBytecode={"transformationValues": {"constructorArguments": 0}}),
])
def test_a_200_that_cannot_be_a_tree_is_invalid_source(document):
    with pytest.raises(SourceError) as raised:
        parse(document)
    assert raised.value.code == "invalid_source" and raised.value.message


ODD_VALUES = [None, 0, 1.5, True, "", "x", [], [1], ["x"], {}, {"a": 1}, {"content": "x"}]


@pytest.mark.parametrize("field", [*VERIFIED, *(f"compilation.{key}" for key in VERIFIED["compilation"]),
                                   "proxyResolution.isProxy", "proxyResolution.implementations"])
def test_any_value_in_any_field_ends_as_a_source_or_a_source_error(field):
    top, _, sub = field.partition(".")
    for value in ODD_VALUES:
        document = verified()
        if sub:
            document[top] = {**document[top], sub: value}
        else:
            document[top] = value
        try:
            parse(document)
        except SourceError:
            pass  # anything else (KeyError, TypeError, AttributeError...) fails the test


def test_hostile_paths_never_leave_the_archive(tmp_path):
    sources = {"../../etc/passwd": {"content": "x"}, "/abs/Token.sol": {"content": "y"},
               "C:\\contracts\\Token.sol": {"content": "z"}, "metadata.json": {"content": "{}"}}
    source = parse(verified(sources=sources))
    assert source.metadata["path_changes"] == {"etc/passwd": "../../etc/passwd", "abs/Token.sol": "/abs/Token.sol",
                                               "contracts/Token.sol": "C:\\contracts\\Token.sol",
                                               "_/metadata.json": "metadata.json"}
    assert_archive_is_safe(to_zip(source), tmp_path)


# --- against the fake --------------------------------------------------------------------------


def test_contract_url_asks_for_every_field():
    assert sourcify.contract_url("https://sourcify.dev/server/", 1, ADDRESS) == (
        f"https://sourcify.dev/server/v2/contract/1/{ADDRESS}?fields=all")


@pytest.fixture(scope="module")
def fake_sourcify():
    with running() as api_url:
        yield explorer_urls(api_url)["SOURCIFY_API_URL"]


@pytest.mark.parametrize("form", ETHERSCAN_SHAPES)
def test_every_form_the_fake_sourcify_serves_parses_to_its_files(fake_sourcify, form):
    address = address_with_shape("sourcify_exact_match", 0, form=form)
    response = httpx.get(sourcify.contract_url(fake_sourcify, 1, address))
    source = sourcify.parse_contract(response.status_code, response.content)
    contract = contract_of(1, address)
    assert source.files == expected_files(1, address)
    assert (source.contract_name, source.language) == (contract.name, contract.language)
    assert source.metadata["match"] == "exact_match"
    assert source.proxy == (form == "proxy")

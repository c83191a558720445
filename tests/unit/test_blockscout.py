"""Parsing Blockscout REST API v2 answers: verified contracts across releases, unverified ones, errors, bad bodies."""

import copy
import json

import httpx
import pytest

from ethsource import blockscout
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

TOKEN = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.4;\n\nimport './Maths.sol';\n\ncontract Token {}\n"
MATHS = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.4;\n\nlibrary Maths {}\n"
ABI = [{"type": "constructor", "stateMutability": "nonpayable",
        "inputs": [{"type": "address", "name": "_owner", "internalType": "address"}]}]
SETTINGS = {"compilationTarget": {"contracts/Token.sol": "Token"}, "evmVersion": "london", "libraries": {},
            "metadata": {"bytecodeHash": "ipfs"}, "optimizer": {"enabled": True, "runs": 200}, "remappings": []}
# A verified contract as a current release answers it (bytecode trimmed).
VERIFIED = {
    "verified_twin_address_hash": None,
    "is_verified": True,
    "is_changed_bytecode": False,
    "is_partially_verified": False,
    "is_fully_verified": True,
    "is_verified_via_sourcify": False,
    "is_verified_via_eth_bytecode_db": False,
    "is_verified_via_verifier_alliance": False,
    "is_vyper_contract": False,
    "has_methods_read": True,
    "proxy_type": None,
    "implementations": [],
    "sourcify_repo_url": None,
    "name": "Token",
    "compiler_version": "v0.8.4+commit.c7e474f2",
    "optimization_enabled": True,
    "optimization_runs": 200,
    "evm_version": "london",
    "verified_at": "2021-06-02T17:54:17.116055Z",
    "abi": ABI,
    "source_code": TOKEN,
    "file_path": "contracts/Token.sol",
    "additional_sources": [{"source_code": MATHS, "file_path": "contracts/Maths.sol"}],
    "compiler_settings": SETTINGS,
    "external_libraries": [{"name": "Maths", "address_hash": "0x40B70A4904fad0FF86F8c901B231EAC759A0eBb0"}],
    "constructor_args": "000000000000000000000000394c399dba25b99ab7708edb505d755b3aa29997",
    "decoded_constructor_args": None,
    "language": "solidity",
    "license_type": "mit",
    "certified": False,
    "is_blueprint": False,
    "is_self_destructed": False,
    "deployed_bytecode": "0x6080",
    "creation_bytecode": "0x6080",
}
# What Blockscout answers for a contract it does not verify: only what it reads on chain.
ON_CHAIN_ONLY = {"has_custom_methods_read": False, "has_custom_methods_write": False, "proxy_type": None,
                 "implementations": [], "is_self_destructed": False, "deployed_bytecode": "0x6080",
                 "creation_bytecode": "0x6080"}


def body(document) -> bytes:
    return json.dumps(document).encode()


def verified(**changes) -> dict:
    document = copy.deepcopy(VERIFIED)
    document.update(changes)
    return document


def without(*keys: str) -> dict:
    return {key: value for key, value in VERIFIED.items() if key not in keys}


def parse(document, status: int = 200):
    return blockscout.parse_contract(status, body(document))


# --- a verified contract ----------------------------------------------------------------------


def test_a_verified_contract_becomes_a_tree_main_file_first():
    source = parse(VERIFIED)
    assert source.files == {"contracts/Token.sol": TOKEN, "contracts/Maths.sol": MATHS}
    assert list(source.files) == ["contracts/Token.sol", "contracts/Maths.sol"]
    assert source.abi == ABI
    assert source.provider == "blockscout"


def test_its_metadata_has_every_key_in_the_archives_terms():
    meta = parse(VERIFIED).metadata
    assert set(meta) == METADATA_KEYS | {"blockscout"}
    assert (meta["contract_name"], meta["contract_file_name"]) == ("Token", "contracts/Token.sol")
    assert (meta["language"], meta["compiler_version"]) == ("Solidity", "v0.8.4+commit.c7e474f2")
    assert meta["optimizer"] == {"enabled": True, "runs": 200}
    assert (meta["evm_version"], meta["license"], meta["match"]) == ("london", "mit", "exact_match")
    assert meta["constructor_arguments"] == "000000000000000000000000394c399dba25b99ab7708edb505d755b3aa29997"
    assert meta["library_links"] == {"Maths": "0x40B70A4904fad0FF86F8c901B231EAC759A0eBb0"}
    assert meta["settings"] == SETTINGS
    assert (meta["proxy"], meta["implementation"]) == (False, None)


def test_blockscouts_own_verification_fields_are_kept_but_not_its_bytecode():
    kept = parse(VERIFIED).metadata["blockscout"]
    assert kept["verified_at"] == "2021-06-02T17:54:17.116055Z" and kept["is_fully_verified"] is True
    assert kept["file_path"] == "contracts/Token.sol"
    assert not {"deployed_bytecode", "creation_bytecode", "source_code", "abi"} & set(kept)


@pytest.mark.parametrize(("fully", "partially", "match"), [(True, False, "exact_match"), (False, True, "match"),
                                                           (False, False, None)])
def test_match_follows_how_fully_blockscout_verified_it(fully, partially, match):
    source = parse(verified(is_fully_verified=fully, is_partially_verified=partially))
    assert source.metadata["match"] == match


def test_unknown_words_for_evm_and_license_read_as_unknown():
    meta = parse(verified(evm_version="default", license_type="none", constructor_args=None)).metadata
    assert (meta["evm_version"], meta["license"], meta["constructor_arguments"]) == (None, None, None)


def test_a_proxy_points_at_its_first_implementation():
    implementations = [{"address_hash": "0x751D7C0Cf91a9b7704541b44E5fF7BeC3D2caA6F", "name": "Logic"}]
    source = parse(verified(proxy_type="eip1967", implementations=implementations))
    assert (source.proxy, source.implementation_address) == (True, "0x751D7C0Cf91a9b7704541b44E5fF7BeC3D2caA6F")
    assert source.metadata["blockscout"]["proxy_type"] == "eip1967"


def test_a_vyper_contract_is_named_and_filed_as_vyper():
    source = parse(verified(language="vyper", is_vyper_contract=True, file_path=None, name="Vault",
                            source_code="# @version 0.3.10\nowner: public(address)\n", additional_sources=[]))
    assert source.language == "Vyper"
    assert list(source.files) == ["Vault.vy"]


def test_older_releases_fields_are_read_too():
    old = without("optimization_runs", "language", "implementations", "external_libraries")
    old |= {
        "optimizations_runs": 999,
        "is_vyper_contract": True,
        "abi": json.dumps(ABI),
        "implementations": [{"address": "0x751D7C0Cf91a9b7704541b44E5fF7BeC3D2caA6F", "name": None}],
        "external_libraries": [{"name": "Maths", "address": "0x40B70A4904fad0FF86F8c901B231EAC759A0eBb0"}],
    }
    source = parse(old)
    assert source.metadata["optimizer"]["runs"] == 999
    assert source.language == "Vyper"  # from is_vyper_contract when `language` is missing
    assert source.abi == ABI
    assert source.implementation_address == "0x751D7C0Cf91a9b7704541b44E5fF7BeC3D2caA6F"
    assert source.metadata["library_links"] == {"Maths": "0x40B70A4904fad0FF86F8c901B231EAC759A0eBb0"}


def test_unknown_fields_are_ignored_and_missing_optional_ones_are_unknown():
    sparse = {"source_code": TOKEN, "name": "Token", "a_field_from_next_year": {"x": 1}}
    source = parse(sparse)
    assert list(source.files) == ["Token.sol"]
    meta = source.metadata
    assert (meta["compiler_version"], meta["settings"], meta["match"], meta["license"]) == (None, None, None, None)
    assert meta["optimizer"] == {"enabled": False, "runs": None} and source.abi is None
    assert meta["blockscout"] == {}


# --- not verified, and failures ---------------------------------------------------------------


@pytest.mark.parametrize("document", [
    ON_CHAIN_ONLY,
    verified(is_verified=False, verified_twin_address_hash="0x394c399dbA25B99Ab7708EdB505d755B3aa29997"),
    verified(source_code=""),
    without("source_code"),
])
def test_a_contract_blockscout_does_not_verify_is_not_verified(document):
    with pytest.raises(SourceError) as raised:
        parse(document)
    assert raised.value.code == "not_verified"


def test_a_404_of_blockscouts_json_is_not_verified():
    with pytest.raises(SourceError) as raised:
        parse({"message": "Not found"}, 404)
    assert raised.value.code == "not_verified"


@pytest.mark.parametrize(("status", "answer"), [
    (404, b"404 page not found"),  # no instance at that URL
    (422, body({"message": "Invalid parameter(s)"})),
    (400, body({"errors": [{"title": "Invalid value", "source": {"pointer": "/address_hash_param"}}]})),
    (401, body({"message": "Unauthorized"})),
])
def test_a_refused_request_is_a_final_blockscout_error(status, answer):
    with pytest.raises(ProviderError) as raised:
        blockscout.parse_contract(status, answer)
    assert (raised.value.code, raised.value.transient, raised.value.provider) == ("blockscout_error", False,
                                                                                 "blockscout")
    assert f"HTTP {status}" in raised.value.message


def test_a_refusal_quotes_blockscouts_reason():
    with pytest.raises(ProviderError) as raised:
        blockscout.parse_contract(422, body({"message": "Invalid parameter(s)"}))
    assert raised.value.message == "Blockscout answered HTTP 422 (Invalid parameter(s))"


@pytest.mark.parametrize(("status", "answer", "code"), [
    (429, body({"message": "Too Many Requests"}), "blockscout_rate_limited"),
    (500, body({"message": "Internal server error"}), "blockscout_unavailable"),
    (504, b"<html><body><h1>504 Gateway Time-out</h1></body></html>", "blockscout_unavailable"),
    (200, b"<html><body>Blockscout is down for maintenance</body></html>", "blockscout_unavailable"),
    (200, body(VERIFIED)[:300], "blockscout_unavailable"),  # cut short
    (200, b"\xff\xfe\x00garbage", "blockscout_unavailable"),
])
def test_passing_faults_are_transient(status, answer, code):
    with pytest.raises(ProviderError) as raised:
        blockscout.parse_contract(status, answer)
    assert (raised.value.code, raised.value.transient) == (code, True)


# --- answers that cannot be a tree -----------------------------------------------------------


@pytest.mark.parametrize("document", [
    [VERIFIED],
    None,
    verified(source_code=["contract Token {}"]),
    verified(is_verified="true"),
    verified(name=7),
    verified(file_path={"path": "Token.sol"}),
    verified(additional_sources={"contracts/Maths.sol": MATHS}),
    verified(additional_sources=["contracts/Maths.sol"]),
    verified(additional_sources=[{"file_path": "contracts/Maths.sol", "source_code": 12}]),
    verified(optimization_enabled="true"),
    verified(optimization_runs="200"),
    verified(compiler_settings="{}"),
    verified(external_libraries=[["Maths", "0x40B70A4904fad0FF86F8c901B231EAC759A0eBb0"]]),
    verified(external_libraries=[{"name": "Maths"}]),
    verified(implementations=["0x751D7C0Cf91a9b7704541b44E5fF7BeC3D2caA6F"]),
    verified(implementations={"address_hash": "0x751D7C0Cf91a9b7704541b44E5fF7BeC3D2caA6F"}),
    verified(proxy_type=1),
])
def test_a_200_that_cannot_be_a_tree_is_invalid_source(document):
    with pytest.raises(SourceError) as raised:
        parse(document)
    assert raised.value.code == "invalid_source" and raised.value.message


ODD_VALUES = [None, 0, 1.5, True, "", "x", [], [1], ["x"], {}, {"a": 1}, [{"file_path": 1}], [{"name": "x"}]]


@pytest.mark.parametrize("field", sorted(VERIFIED))
def test_any_value_in_any_field_ends_as_a_source_or_a_source_error(field):
    for value in ODD_VALUES:
        try:
            parse(verified(**{field: value}))
        except SourceError:
            pass  # anything else (KeyError, TypeError, AttributeError...) fails the test


def test_hostile_paths_never_leave_the_archive(tmp_path):
    hostile = verified(file_path="../../../home/user/.bashrc", additional_sources=[
        {"file_path": "/etc/cron.d/job", "source_code": "x"},
        {"file_path": "..\\..\\Windows\\win.ini", "source_code": "y"},
        {"file_path": "implementation/Token.sol", "source_code": "z"},
        {"file_path": "home/user/.BASHRC", "source_code": "w"},  # the same file on a case-insensitive disk
    ])
    source = parse(hostile)
    assert list(source.files) == ["home/user/.bashrc", "etc/cron.d/job", "Windows/win.ini",
                                  "_/implementation/Token.sol", "home/user/.BASHRC~2"]
    assert source.metadata["path_changes"]["home/user/.bashrc"] == "../../../home/user/.bashrc"
    assert_archive_is_safe(to_zip(source), tmp_path)


# --- against the fake --------------------------------------------------------------------------


def test_contract_url_is_the_instances_smart_contract_route():
    assert blockscout.contract_url("https://eth.blockscout.com/", "0xabc") == (
        "https://eth.blockscout.com/api/v2/smart-contracts/0xabc")


@pytest.fixture(scope="module")
def fake_mainnet_instance():
    with running() as api_url:
        yield dict(entry.split("=", 1) for entry in explorer_urls(api_url, [1])["BLOCKSCOUT_API_URLS"].split(","))["1"]


@pytest.mark.parametrize("form", ETHERSCAN_SHAPES)
def test_every_form_the_fake_blockscout_serves_parses_to_its_files(fake_mainnet_instance, form):
    address = address_with_shape("blockscout", 0, form=form)
    response = httpx.get(blockscout.contract_url(fake_mainnet_instance, address))
    source = blockscout.parse_contract(response.status_code, response.content)
    contract = contract_of(1, address)
    assert source.files == expected_files(1, address)
    assert (source.contract_name, source.language) == (contract.name, contract.language)
    assert source.proxy == (form == "proxy")


def test_a_contract_the_fake_blockscout_only_sees_on_chain_is_not_verified(fake_mainnet_instance):
    response = httpx.get(blockscout.contract_url(fake_mainnet_instance, address_with_shape("sourcify_match")))
    with pytest.raises(SourceError) as raised:
        blockscout.parse_contract(response.status_code, response.content)
    assert raised.value.code == "not_verified"

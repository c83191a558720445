"""The foundry download format: every key of foundry.toml and line of remappings.txt against the verified settings.

forge cannot run here, so each test builds a ContractSource from an Etherscan-shaped item (parse_item, the way
the scanner does), opens the zip, parses foundry.toml with tomllib and compares it with what was verified.
"""

import io
import json
import posixpath
import tomllib
import zipfile

import httpx
import pytest

from ethsource import blockscout, sourcify
from ethsource.errors import InvalidInput
from ethsource.foundry import FormatNotApplicable, to_zip
from ethsource.sources import ContractSource, parse_item, safe_path, with_implementation
from ethsource_local.fake_etherscan import (
    ETHERSCAN_SHAPES,
    Contract,
    FakeConfig,
    address_with_shape,
    contract_of,
    explorer_urls,
    implementation_of,
    running,
)

ABI = [{"inputs": [], "name": "owner", "outputs": [{"name": "", "type": "address"}], "type": "function"}]
TOKEN = '// SPDX-License-Identifier: MIT\npragma solidity 0.8.20;\n\nimport "./Maths.sol";\n\ncontract Token {}\n'
MATHS = "// SPDX-License-Identifier: MIT\npragma solidity 0.8.20;\n\nlibrary Maths {}\n"
MATHS_ADDRESS = "0x1111111111111111111111111111111111111111"


def item(**fields) -> dict:
    """A getsourcecode result item as Etherscan sends it: every field a string."""
    base = {
        "SourceCode": TOKEN,
        "ABI": json.dumps(ABI),
        "ContractName": "Token",
        "CompilerVersion": "v0.8.20+commit.a1b79de6",
        "OptimizationUsed": "0",
        "Runs": "200",
        "ConstructorArguments": "",
        "EVMVersion": "Default",
        "Library": "",
        "LicenseType": "MIT",
        "Proxy": "0",
        "Implementation": "",
        "SwarmSource": "",
    }
    return base | fields


def files_json(files: dict[str, str]) -> str:
    return json.dumps({path: {"content": text} for path, text in files.items()})


def standard_json(files: dict[str, str], settings: dict, language: str = "Solidity") -> str:
    document = {"language": language, "sources": {path: {"content": text} for path, text in files.items()},
                "settings": settings}
    return "{" + json.dumps(document, indent=2).replace("\n", "\r\n") + "}"  # Etherscan's double braces


def open_zip(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def profile(entries: dict[str, bytes], project: str = "") -> dict:
    return tomllib.loads(entries[project + "foundry.toml"].decode())["profile"]["default"]


def remappings(entries: dict[str, bytes], project: str = "") -> list[str]:
    return entries[project + "remappings.txt"].decode().splitlines()


# --- single file and JSON map: the item's top-level fields -----------------------------------------


def test_single_file_pins_compiler_optimizer_and_evm_from_the_item():
    source = parse_item(item(OptimizationUsed="1", Runs="999", EVMVersion="london"))
    entries = open_zip(to_zip(source))
    assert profile(entries) == {
        "src": ".",
        "solc_version": "0.8.20",
        "auto_detect_solc": False,
        "evm_version": "london",
        "optimizer": True,
        "optimizer_runs": 999,
        "via_ir": False,
        "libraries": [],
        "auto_detect_remappings": False,
    }
    assert remappings(entries) == []
    assert entries["Token.sol"].decode() == TOKEN
    assert json.loads(entries["abi.json"]) == ABI
    assert json.loads(entries["metadata.json"])["contract_name"] == "Token"


def test_optimizer_off_keeps_the_verified_runs():
    assert profile(open_zip(to_zip(parse_item(item(OptimizationUsed="0", Runs="1000")))))["optimizer_runs"] == 1000


def test_missing_runs_are_solc_default_200():
    assert profile(open_zip(to_zip(parse_item(item(Runs="")))))["optimizer_runs"] == 200


@pytest.mark.parametrize(
    ("compiler", "evm"),
    [
        ("v0.4.24+commit.e67f0147", "byzantium"),
        ("v0.5.4+commit.9549d8ff", "byzantium"),
        ("v0.5.5+commit.47a71e8f", "petersburg"),
        ("v0.6.12+commit.27d51765", "istanbul"),
        ("v0.8.4+commit.c7e474f2", "istanbul"),
        ("v0.8.6+commit.11564f7e", "berlin"),
        ("v0.8.17+commit.8df45f5f", "london"),
        ("v0.8.19+commit.7dd6d404", "paris"),
        ("v0.8.24+commit.e11b9ed9", "shanghai"),
        ("v0.8.25+commit.b61c2a91", "cancun"),
        ("v0.8.30+commit.73712a01", "prague"),
        ("v0.8.31+commit.fd3a2265", "osaka"),
    ],
)
def test_default_evm_version_is_the_one_that_solc_release_compiled_for(compiler, evm):
    assert profile(open_zip(to_zip(parse_item(item(CompilerVersion=compiler)))))["evm_version"] == evm


def test_solc_before_0_4_21_gets_no_evm_version():
    assert "evm_version" not in profile(open_zip(to_zip(parse_item(item(CompilerVersion="v0.4.11+commit.68ef5810")))))


def test_json_map_of_files_puts_every_file_at_its_path():
    files = {"Token.sol": TOKEN, "Maths.sol": MATHS, "@openzeppelin/contracts/access/Ownable.sol": "// o\n"}
    entries = open_zip(to_zip(parse_item(item(SourceCode=files_json(files), ContractFileName="Token.sol"))))
    for path, text in files.items():
        assert entries[path].decode() == text
    assert remappings(entries) == []


def test_top_level_library_is_linked_in_the_file_that_declares_it():
    files = {"Token.sol": TOKEN, "Maths.sol": MATHS}
    undeclared = "0x2222222222222222222222222222222222222222"
    source = parse_item(item(SourceCode=files_json(files), Library=f"Maths:{MATHS_ADDRESS};Strings:{undeclared}"))
    assert profile(open_zip(to_zip(source)))["libraries"] == [
        f"Maths.sol:Maths:{MATHS_ADDRESS}",
        f":Strings:{undeclared}",  # declared in no source: solc's global level
    ]


# --- standard JSON: its settings are what was compiled ----------------------------------------------


OPTIMIZER_DETAILS = {"yul": True, "yulDetails": {"stackAllocation": True, "optimizerSteps": "dhfoDgvulfnTUtnIf"}}
FULL_SETTINGS = {
    "remappings": ["@openzeppelin/=lib/openzeppelin-contracts/", "src/:forge-std/=lib/forge-std/src/"],
    "optimizer": {"enabled": True, "runs": 10000, "details": OPTIMIZER_DETAILS},
    "viaIR": True,
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none", "appendCBOR": False, "useLiteralContent": True},
    "debug": {"revertStrings": "strip"},
    "libraries": {"src/Maths.sol": {"Maths": MATHS_ADDRESS}},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode"]}},
}
FULL_FILES = {
    "src/Token.sol": TOKEN,
    "src/Maths.sol": MATHS,
    "lib/openzeppelin-contracts/contracts/access/Ownable.sol": "// o\n",
    "lib/forge-std/src/Test.sol": "// t\n",
}


def test_standard_json_settings_win_over_the_items_top_level_fields():
    code = standard_json(FULL_FILES, FULL_SETTINGS)
    source = parse_item(item(SourceCode=code, CompilerVersion="v0.8.26+commit.8a97fa7a",
                             OptimizationUsed="0", Runs="200", EVMVersion="london"))
    assert profile(open_zip(to_zip(source))) == {
        "src": ".",
        "solc_version": "0.8.26",
        "auto_detect_solc": False,
        "evm_version": "cancun",
        "optimizer": True,
        "optimizer_runs": 10000,
        "via_ir": True,
        "bytecode_hash": "none",
        "cbor_metadata": False,
        "use_literal_content": True,
        "revert_strings": "strip",
        "libraries": [f"src/Maths.sol:Maths:{MATHS_ADDRESS}"],
        "auto_detect_remappings": False,
        "optimizer_details": OPTIMIZER_DETAILS,
    }


def test_standard_json_remappings_are_remappings_txt_line_for_line():
    entries = open_zip(to_zip(parse_item(item(SourceCode=standard_json(FULL_FILES, FULL_SETTINGS)))))
    assert remappings(entries) == FULL_SETTINGS["remappings"]
    for path, text in FULL_FILES.items():
        assert entries[path].decode() == text


def test_standard_json_leaving_settings_out_means_solc_defaults_not_the_items_fields():
    code = standard_json(FULL_FILES, {"outputSelection": {"*": {"*": ["abi"]}}})
    toml = profile(open_zip(to_zip(parse_item(item(SourceCode=code, OptimizationUsed="1", Runs="777")))))
    assert (toml["optimizer"], toml["optimizer_runs"], toml["via_ir"], toml["evm_version"]) == (False, 200, False,
                                                                                                 "shanghai")
    assert "bytecode_hash" not in toml and "cbor_metadata" not in toml and "revert_strings" not in toml


def test_paths_changed_for_safety_are_followed_by_libraries_and_remappings():
    files = {"/home/dev/project/contracts/Token.sol": TOKEN, "/home/dev/project/contracts/Maths.sol": MATHS}
    settings = {"remappings": ["contracts/=/home/dev/project/contracts/", "up/=../../", "root/=/"],
                "libraries": {"/home/dev/project/contracts/Maths.sol": {"Maths": MATHS_ADDRESS}}}
    entries = open_zip(to_zip(parse_item(item(SourceCode=standard_json(files, settings)))))
    assert "home/dev/project/contracts/Maths.sol" in entries
    assert remappings(entries) == ["contracts/=home/dev/project/contracts/", "up/=./", "root/=./"]
    assert profile(entries)["libraries"] == [f"home/dev/project/contracts/Maths.sol:Maths:{MATHS_ADDRESS}"]


def test_every_remapping_target_stays_inside_the_project():
    settings = {"remappings": ["a/=../../../etc/", "b/=/etc/", "c/=C:\\Windows\\", "ctx/../..:d/=lib/d/"]}
    for line in remappings(open_zip(to_zip(parse_item(item(SourceCode=standard_json(FULL_FILES, settings)))))):
        left, _, target = line.partition("=")
        for path in (target, left.partition(":")[0] if ":" in left else ""):
            normal = posixpath.normpath(path or ".")
            assert not normal.startswith(("/", "..")) and ":" not in normal and "\\" not in normal, line


@pytest.mark.parametrize("remapping", ["no-equals-sign", "=lib/x/", "ctx:=lib/x/", "a/=lib/a/\nb/=/etc/", 42])
def test_a_remapping_solc_would_not_take_is_not_applicable(remapping):
    with pytest.raises(FormatNotApplicable):
        to_zip(parse_item(item(SourceCode=standard_json(FULL_FILES, {"remappings": [remapping]}))))


def test_setting_values_cannot_break_out_of_their_toml_strings():
    hostile = 'x"\nsrc = "/etc"\n[profile.evil]\\'
    settings = {"debug": {"revertStrings": hostile},
                "optimizer": {"enabled": True, "details": {"yulDetails": {"optimizerSteps": hostile}}}}
    toml = profile(open_zip(to_zip(parse_item(item(SourceCode=standard_json(FULL_FILES, settings))))))
    assert toml["src"] == "."
    assert toml["revert_strings"] == hostile
    assert toml["optimizer_details"]["yulDetails"]["optimizerSteps"] == hostile


def test_a_library_that_cannot_be_written_as_file_name_address_is_not_applicable():
    settings = {"libraries": {"src/Maths.sol": {"Maths:evil": MATHS_ADDRESS}}}
    with pytest.raises(FormatNotApplicable):
        to_zip(parse_item(item(SourceCode=standard_json(FULL_FILES, settings))))


@pytest.mark.parametrize("settings", [{"optimizer": "yes"}, {"optimizer": {"runs": -1}}, {"optimizer": {"runs": "200"}},
                                      {"metadata": []}, {"remappings": "a/=b/"}, {"libraries": {"A.sol": "0x1"}}])
def test_settings_of_the_wrong_shape_are_not_applicable(settings):
    with pytest.raises(FormatNotApplicable):
        to_zip(parse_item(item(SourceCode=standard_json(FULL_FILES, settings))))


# --- what the format cannot express ----------------------------------------------------------------


def test_vyper_single_file_is_not_applicable():
    source = parse_item(item(SourceCode="# @version 0.3.10\nowner: public(address)\n", ContractName="Vault",
                             CompilerVersion="vyper:0.3.10"))
    with pytest.raises(FormatNotApplicable) as raised:
        to_zip(source)
    assert isinstance(raised.value, InvalidInput)  # the edge answers 422
    assert raised.value.code == "format_not_applicable"
    assert "Vyper" in raised.value.message


def test_vyper_standard_json_is_not_applicable():
    code = standard_json({"contracts/Vault.vy": "# pragma version ~=0.4.0\n"},
                         {"search_paths": [".venv/lib/python3.12/site-packages", "."]}, language="Vyper")
    with pytest.raises(FormatNotApplicable):
        to_zip(parse_item(item(SourceCode=code, CompilerVersion="vyper:0.4.0", ContractName="Vault")))


@pytest.mark.parametrize("compiler", ["v0.8.4-nightly.2021.3.1+commit.ad48b713", "", "solc-latest"])
def test_a_compiler_forge_cannot_install_is_not_applicable(compiler):
    with pytest.raises(FormatNotApplicable):
        to_zip(parse_item(item(CompilerVersion=compiler)))


@pytest.mark.parametrize("name", ["foundry.toml", "Remappings.TXT"])
def test_a_source_named_like_a_project_file_is_not_applicable(name):
    with pytest.raises(FormatNotApplicable):
        to_zip(parse_item(item(SourceCode=files_json({"Token.sol": TOKEN, name: "x"}))))


# --- layout ------------------------------------------------------------------------------------------


def test_proxy_and_implementation_are_two_projects_side_by_side():
    proxy = parse_item(item(ContractName="Proxy", SourceCode="pragma solidity 0.7.5;\ncontract Proxy {}\n",
                            CompilerVersion="v0.7.5+commit.eb77ed08", Proxy="1",
                            Implementation="0xbe607a58206180fef691bf1b5ae9670174284388"))
    implementation = parse_item(item(SourceCode=standard_json(FULL_FILES, FULL_SETTINGS),
                                     CompilerVersion="v0.8.26+commit.8a97fa7a"))
    entries = open_zip(to_zip(with_implementation(proxy, implementation)))
    assert {name.split("/")[0] for name in entries} == {"proxy", "implementation"}
    assert profile(entries, "proxy/")["solc_version"] == "0.7.5"
    assert profile(entries, "proxy/")["evm_version"] == "istanbul"
    assert profile(entries, "implementation/")["solc_version"] == "0.8.26"
    assert remappings(entries, "proxy/") == []
    assert remappings(entries, "implementation/") == FULL_SETTINGS["remappings"]
    assert entries["proxy/Proxy.sol"].decode() == proxy.files["Proxy.sol"]
    for path, text in FULL_FILES.items():
        assert entries["implementation/" + path].decode() == text
    assert json.loads(entries["implementation/metadata.json"])["contract_name"] == "Token"


def test_a_vyper_implementation_makes_the_proxy_not_applicable_too():
    vyper = parse_item(item(SourceCode="x: uint256\n", CompilerVersion="vyper:0.3.10", ContractName="Vault"))
    with pytest.raises(FormatNotApplicable):
        to_zip(with_implementation(parse_item(item(Proxy="1")), vyper))


def test_hostile_source_paths_stay_inside_the_zip(tmp_path):
    files = {"../../etc/evil.sol": "// e\n", "/abs/Token.sol": TOKEN, "C:\\win\\Maths.sol": MATHS,
             "implementation/Fake.sol": "// f\n"}
    blob = to_zip(parse_item(item(SourceCode=files_json(files))))
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path)
    for name in names:
        parts = name.split("/")
        assert not name.startswith("/") and ".." not in parts and "" not in parts and "\\" not in name, name
        assert ":" not in parts[0], name
    assert {"etc/evil.sol", "abs/Token.sol", "win/Maths.sol", "_/implementation/Fake.sol"} <= set(names)
    assert all((tmp_path / name).resolve().is_relative_to(tmp_path.resolve()) for name in names)


def test_the_same_source_always_gives_the_same_bytes():
    source = parse_item(item(SourceCode=standard_json(FULL_FILES, FULL_SETTINGS)))
    assert to_zip(source) == to_zip(source)


# --- every source shape of the fake explorers, as the scanner parses each provider's answer ----------------


DEFAULT_EVM = {"0.8.19": "paris", "0.8.20": "shanghai", "0.8.21": "shanghai", "0.8.24": "shanghai"}  # solc's own


@pytest.fixture(scope="module")
def explorers():
    with running(FakeConfig()) as api_url, httpx.Client(timeout=5) as client:
        yield explorer_urls(api_url), client


def fake_source(explorers, provider: str, form: str) -> tuple[ContractSource, Contract]:
    """The parsed source of a fake contract of `form` that only `provider` verifies, and the fake's own record."""
    urls, client = explorers
    if provider == "etherscan":
        address = address_with_shape(form)
        source = parse_item(contract_of(1, address).etherscan_item)
        implementation = implementation_of(address)
        if implementation:
            source = with_implementation(source, parse_item(contract_of(1, implementation).etherscan_item))
    elif provider == "sourcify":
        address = address_with_shape("sourcify_exact_match", form=form)
        answer = client.get(sourcify.contract_url(urls["SOURCIFY_API_URL"], 1, address))
        source = sourcify.parse_contract(answer.status_code, answer.content)
    else:
        address = address_with_shape("blockscout", form=form)
        instance = dict(entry.split("=", 1) for entry in urls["BLOCKSCOUT_API_URLS"].split(","))["1"]
        answer = client.get(blockscout.contract_url(instance, address))
        source = blockscout.parse_contract(answer.status_code, answer.content)
    return source, contract_of(1, address)


def assert_project_is_the_verified_build(entries: dict[str, bytes], contract: Contract, project: str = "") -> None:
    settings = profile(entries, project)
    version = contract.compiler_version.split("+")[0]
    assert settings["solc_version"] == version
    assert settings["auto_detect_solc"] is False and settings["auto_detect_remappings"] is False
    assert settings["optimizer"] is contract.optimized
    assert settings["optimizer_runs"] == contract.runs
    # Etherscan's "Default" EVM version is what that solc release compiled for when none was set.
    json_settings = json.loads(entries[project + "metadata.json"]).get("settings")
    assert settings["evm_version"] == (contract.settings["evmVersion"] if json_settings or
                                       contract.etherscan_item["EVMVersion"] != "Default" else DEFAULT_EVM[version])
    assert settings.get("via_ir", False) is bool(contract.settings.get("viaIR", False))
    linked = {tuple(entry.rsplit(":", 2)[1:]): entry.rsplit(":", 2)[0] for entry in settings.get("libraries", [])}
    assert {name_address for name_address in linked} == set(contract.libraries.items())
    assert all(project + file in entries and f"library {name}" in entries[project + file].decode()
               for (name, _), file in linked.items())
    assert remappings(entries, project) == contract.settings.get("remappings", [])
    for path, text in contract.files.items():
        assert entries[project + safe_path(path)] == text.encode()


@pytest.mark.parametrize("provider", ["etherscan", "sourcify", "blockscout"])
@pytest.mark.parametrize("form", ETHERSCAN_SHAPES)
def test_every_source_shape_of_the_fake_explorers_is_a_project_of_its_verified_settings(explorers, provider, form):
    source, contract = fake_source(explorers, provider, form)
    if contract.language == "Vyper":
        with pytest.raises(FormatNotApplicable) as refused:
            to_zip(source)
        assert refused.value.code == "format_not_applicable" and "Vyper" in refused.value.message
        return
    entries = open_zip(to_zip(source))
    if source.implementation is None:
        assert_project_is_the_verified_build(entries, contract)
    else:
        assert_project_is_the_verified_build(entries, contract, "proxy/")
        implementation = contract_of(1, contract.implementation)
        assert_project_is_the_verified_build(entries, implementation, "implementation/")

"""Parsing Etherscan's getsourcecode items, path safety, and the archive built from them."""

import io
import json
import zipfile
import zlib

import pytest
import zstandard

from ethsource.sources import (
    ContractSource,
    SourceError,
    compress,
    decompress,
    parse_item,
    safe_path,
    to_json,
    to_zip,
    with_implementation,
)
from tests.unit.source_checks import METADATA_KEYS, assert_archive_is_safe

ABI = [{"inputs": [], "name": "owner", "outputs": [{"name": "", "type": "address"}], "type": "function"}]
TOKEN = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.20;\n\ncontract Token {}\n"
LIB = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.20;\n\nlibrary Maths {}\n"


def item(**fields) -> dict:
    """A result item shaped like Etherscan's, with every field a string as the real API sends it."""
    base = {
        "SourceCode": TOKEN,
        "ABI": json.dumps(ABI),
        "ContractName": "Token",
        "CompilerVersion": "v0.8.20+commit.a1b79de6",
        "OptimizationUsed": "1",
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
    return json.dumps({name: {"content": text} for name, text in files.items()})


def standard_json(files: dict[str, str], language: str = "Solidity", **extra) -> str:
    document = {
        "language": language,
        "sources": {name: {"content": text} for name, text in files.items()},
        "settings": {"optimizer": {"enabled": True, "runs": 200}, "evmVersion": "paris"},
    } | extra
    # Etherscan's double-brace form, pretty-printed with Windows line ends.
    return "{" + json.dumps(document, indent=2).replace("\n", "\r\n") + "}"


def with_paths(*paths: str) -> ContractSource:
    return parse_item(item(SourceCode=files_json({p: f"// file {i}\n" for i, p in enumerate(paths)})))


# --- the shapes of SourceCode ---------------------------------------------------------------------


def test_plain_text_is_one_file_named_from_contract_file_name():
    source = parse_item(item(ContractFileName="contracts/Token.sol"))
    assert source.files == {"contracts/Token.sol": TOKEN}
    assert source.metadata["files"] == ["contracts/Token.sol"]
    assert source.metadata["settings"] is None
    assert source.language == "Solidity"


def test_plain_text_without_file_name_is_named_after_the_contract():
    assert list(parse_item(item()).files) == ["Token.sol"]


def test_plain_text_vyper_gets_a_vy_extension():
    source = parse_item(item(SourceCode="# @version 0.3.10\nowner: public(address)\n", ContractName="Vault",
                             CompilerVersion="vyper:0.3.10"))
    assert list(source.files) == ["Vault.vy"]
    assert source.language == "Vyper"


def test_single_brace_json_of_files_keeps_etherscan_order():
    code = files_json({"Token.sol": TOKEN, "Maths.sol": LIB, "@openzeppelin/contracts/Ownable.sol": "// o\n"})
    source = parse_item(item(SourceCode=code, ContractFileName="Token.sol"))
    assert list(source.files) == ["Token.sol", "Maths.sol", "@openzeppelin/contracts/Ownable.sol"]
    assert source.files["Maths.sol"] == LIB
    assert source.metadata["path_changes"] == {}


def test_single_brace_standard_json_is_read_as_compiler_input():
    document = {"language": "Solidity", "sources": {"src/Token.sol": {"content": TOKEN}}, "settings": {"viaIR": True}}
    source = parse_item(item(SourceCode=json.dumps(document)))
    assert source.files == {"src/Token.sol": TOKEN}
    assert source.metadata["settings"] == {"viaIR": True}


def test_double_brace_standard_json_with_crlf_is_unwrapped_once():
    code = standard_json({"contracts/Token.sol": TOKEN, "contracts/lib/Maths.sol": LIB})
    assert code.startswith("{{\r\n") and code.endswith("}}")
    source = parse_item(item(SourceCode=code))
    assert source.files == {"contracts/Token.sol": TOKEN, "contracts/lib/Maths.sol": LIB}
    assert source.metadata["settings"] == {"optimizer": {"enabled": True, "runs": 200}, "evmVersion": "paris"}


def test_vyper_standard_json_includes_sources_and_interfaces():
    interfaces = {
        "interfaces/IVault.vyi": {"content": "@external\ndef deposit(): ...\n"},
        "interfaces/IERC20.json": {"abi": ABI},
    }
    code = standard_json({"contracts/Vault.vy": "# pragma version ~=0.4.0\n"}, language="Vyper", interfaces=interfaces)
    source = parse_item(item(SourceCode=code, CompilerVersion="vyper:0.4.0", ContractName="Vault"))
    assert list(source.files) == ["contracts/Vault.vy", "interfaces/IVault.vyi", "interfaces/IERC20.json"]
    assert json.loads(source.files["interfaces/IERC20.json"]) == {"abi": ABI}
    assert source.language == "Vyper"


def test_standard_json_saying_vyper_makes_the_language_vyper():
    code = standard_json({"Vault.vy": "x: uint256\n"}, language="Vyper")
    assert parse_item(item(SourceCode=code, CompilerVersion="v0.4.0+commit.e9db8d9")).language == "Vyper"


# --- refusals ---------------------------------------------------------------------------------------


def test_unverified_contract_is_not_verified():
    with pytest.raises(SourceError) as raised:
        parse_item(item(SourceCode="", ABI="Contract source code not verified", ContractName=""))
    assert raised.value.code == "not_verified"


def test_empty_source_code_is_not_verified():
    with pytest.raises(SourceError) as raised:
        parse_item(item(SourceCode="  \n"))
    assert raised.value.code == "not_verified"


@pytest.mark.parametrize(
    "code",
    [
        '{"Token.sol": {"content": "contract Token {}"}',  # cut short
        '{{"language": "Solidity", "sources": }}',
        "{}",  # no files
        '{"language": "Solidity", "sources": {}}',  # no files
        '{"language": "Solidity", "sources": []}',  # wrong type
        '{"Token.sol": {"content": 42}}',
        '{"Token.sol": "contract Token {}"}',
    ],
)
def test_source_code_that_claims_json_but_is_broken_is_invalid_source(code):
    with pytest.raises(SourceError) as raised:
        parse_item(item(SourceCode=code))
    assert raised.value.code == "invalid_source"
    assert raised.value.message


def test_a_field_of_the_wrong_type_is_invalid_source():
    with pytest.raises(SourceError) as raised:
        parse_item(item(SourceCode=["contract Token {}"]))
    assert raised.value.code == "invalid_source"


# --- metadata ----------------------------------------------------------------------------------------


def test_metadata_fields_are_parsed():
    source = parse_item(item(
        ContractFileName="Token.sol",
        OptimizationUsed="1",
        Runs="999",
        EVMVersion="shanghai",
        LicenseType="GNU GPLv3",
        ConstructorArguments="000000000000000000000000f00df00df00df00df00df00df00df00df00df00d",
        Library="Maths:0x1111111111111111111111111111111111111111;Strings:0x2222222222222222222222222222222222222222",
        SwarmSource="ipfs://bafyexample",
    ))
    meta = source.metadata
    assert meta["optimizer"] == {"enabled": True, "runs": 999}
    assert meta["evm_version"] == "shanghai"
    assert meta["license"] == "GNU GPLv3"
    assert meta["constructor_arguments"] == "000000000000000000000000f00df00df00df00df00df00df00df00df00df00d"
    assert meta["library_links"] == {
        "Maths": "0x1111111111111111111111111111111111111111",
        "Strings": "0x2222222222222222222222222222222222222222",
    }
    assert meta["contract_name"] == source.contract_name == "Token"
    assert meta["contract_file_name"] == "Token.sol"
    assert meta["compiler_version"] == source.compiler_version == "v0.8.20+commit.a1b79de6"
    assert meta["swarm_source"] == "ipfs://bafyexample"
    assert source.abi == ABI


def test_unknown_metadata_values_are_none():
    meta = parse_item(item(OptimizationUsed="0", Runs="", EVMVersion="Default", LicenseType="Unknown",
                           Library="", SwarmSource="")).metadata
    assert meta["optimizer"] == {"enabled": False, "runs": None}
    assert meta["evm_version"] is None
    assert meta["license"] is None
    assert meta["constructor_arguments"] is None
    assert meta["library_links"] == {}
    assert meta["contract_file_name"] is None
    assert meta["implementation"] is None and meta["proxy"] is False
    assert parse_item(item(Runs="²")).metadata["optimizer"]["runs"] is None
    for license_type in ("", "None"):
        assert parse_item(item(LicenseType=license_type)).metadata["license"] is None


def test_metadata_always_has_every_key_and_names_etherscan_as_provider():
    source = parse_item(item())
    assert set(source.metadata) == METADATA_KEYS
    assert source.metadata["provider"] == source.provider == "etherscan"
    assert source.metadata["match"] is None  # Etherscan does not grade its matches


def test_a_single_library_link_is_parsed():
    links = parse_item(item(Library="SafeMath:0x3333333333333333333333333333333333333333")).metadata["library_links"]
    assert links == {"SafeMath": "0x3333333333333333333333333333333333333333"}


def test_abi_that_is_not_json_becomes_none():
    assert parse_item(item(ABI="not json")).abi is None


def test_proxy_fields_are_read():
    source = parse_item(item(Proxy="1", Implementation="0x4444444444444444444444444444444444444444"))
    assert source.proxy is True
    assert source.implementation_address == "0x4444444444444444444444444444444444444444"


# --- path attacks: each one checked in the archive ------------------------------------------------------


def test_dotdot_segments_never_leave_the_archive(tmp_path):
    source = with_paths("../../etc/passwd", "contracts/../../Token.sol", "a/b/../c.sol", "x/../../../y/../z.sol")
    assert list(source.files) == ["etc/passwd", "Token.sol", "a/c.sol", "z.sol"]
    assert source.metadata["path_changes"]["etc/passwd"] == "../../etc/passwd"
    assert_archive_is_safe(to_zip(source), tmp_path)


def test_absolute_paths_become_relative(tmp_path):
    source = with_paths("/etc/cron.d/job.sol", "//server/share/Token.sol")
    assert list(source.files) == ["etc/cron.d/job.sol", "server/share/Token.sol"]
    assert_archive_is_safe(to_zip(source), tmp_path)


def test_backslashes_become_folders(tmp_path):
    source = with_paths("contracts\\lib\\Maths.sol", "..\\..\\Windows\\evil.sol")
    assert list(source.files) == ["contracts/lib/Maths.sol", "Windows/evil.sol"]
    assert_archive_is_safe(to_zip(source), tmp_path)


def test_windows_drive_letters_are_dropped(tmp_path):
    source = with_paths("C:\\Users\\dev\\Token.sol", "d:/Maths.sol", "E:Strings.sol")
    assert list(source.files) == ["Users/dev/Token.sol", "Maths.sol", "Strings.sol"]
    assert_archive_is_safe(to_zip(source), tmp_path)


def test_nul_and_control_characters_are_removed(tmp_path):
    source = with_paths("Token.sol\x00.txt", "lib/\x1b[31mMaths\n.sol", "a\x7f.sol")
    assert list(source.files) == ["Token.sol.txt", "lib/[31mMaths.sol", "a.sol"]
    assert_archive_is_safe(to_zip(source), tmp_path)


def test_lone_surrogates_cannot_break_the_archive(tmp_path):
    source = parse_item(item(SourceCode=files_json({"b\ud800ad.sol": "// \udc00 broken escape\n"})))
    assert list(source.files) == ["bad.sol"]
    assert_archive_is_safe(to_zip(source), tmp_path)
    assert decompress(compress(source)) == source


def test_empty_names_become_unnamed(tmp_path):
    source = with_paths("", "  /  / ", "../..", "./")
    assert list(source.files) == ["unnamed.sol", "unnamed~2.sol", "unnamed~3.sol", "unnamed~4.sol"]
    assert source.metadata["path_changes"]["unnamed.sol"] == ""
    assert_archive_is_safe(to_zip(source), tmp_path)


def test_empty_vyper_name_becomes_unnamed_vy():
    assert safe_path("..", vyper=True) == "unnamed.vy"


def test_segment_whitespace_and_empty_segments_are_dropped():
    assert safe_path(" contracts //  lib/ Maths.sol ") == "contracts/lib/Maths.sol"


def test_dot_only_segments_are_dropped():
    assert safe_path("a/./.../. ./b.sol") == "a/b.sol"


def test_a_drive_letter_cannot_hide_dotdot():
    assert safe_path("C:..\\..\\Token.sol") == "Token.sol"


def test_duplicates_after_cleaning_get_numbered(tmp_path):
    source = with_paths("a/../b.sol", "b.sol", "./b.sol", "b~2.sol")
    assert list(source.files) == ["b.sol", "b~2.sol", "b~3.sol", "b~2~2.sol"]
    assert source.metadata["path_changes"] == {"b.sol": "a/../b.sol", "b~2.sol": "b.sol", "b~3.sol": "./b.sol",
                                               "b~2~2.sol": "b~2.sol"}
    assert len(set(source.files.values())) == 4
    assert_archive_is_safe(to_zip(source), tmp_path)


def test_names_differing_only_in_case_do_not_overwrite_each_other(tmp_path):
    source = with_paths("Token.sol", "token.sol")
    assert list(source.files) == ["Token.sol", "token~2.sol"]
    assert_archive_is_safe(to_zip(source), tmp_path)


def test_a_file_named_like_a_folder_stays_extractable(tmp_path):
    source = with_paths("lib", "lib/Maths.sol", "Token.sol/x.sol")
    assert list(source.files) == ["lib", "lib~2/Maths.sol", "Token.sol/x.sol"]
    source = with_paths("lib/Maths.sol", "lib")
    assert list(source.files) == ["lib/Maths.sol", "lib~2"]
    assert_archive_is_safe(to_zip(source), tmp_path)


def test_reserved_root_names_are_moved_under_underscore(tmp_path):
    source = with_paths("metadata.json", "ABI.json", "implementation/Logic.sol", "implementation", "lib/abi.json")
    assert list(source.files) == [
        "_/metadata.json", "_/ABI.json", "_/implementation/Logic.sol", "_/implementation~2", "lib/abi.json"
    ]
    names = assert_archive_is_safe(to_zip(source), tmp_path)
    assert json.loads((tmp_path / "metadata.json").read_text())["files"] == list(source.files)
    assert names.count("metadata.json") == 1 and names.count("abi.json") == 1


def test_plain_text_file_name_is_made_safe(tmp_path):
    source = parse_item(item(ContractFileName="..\\..\\Token.sol"))
    assert source.files == {"Token.sol": TOKEN}
    assert source.metadata["path_changes"] == {"Token.sol": "..\\..\\Token.sol"}
    assert_archive_is_safe(to_zip(source), tmp_path)


def test_standard_json_paths_are_made_safe(tmp_path):
    source = parse_item(item(SourceCode=standard_json({"/abs/Token.sol": TOKEN, "../Maths.sol": LIB})))
    assert list(source.files) == ["abs/Token.sol", "Maths.sol"]
    assert_archive_is_safe(to_zip(source), tmp_path)


# --- archive, JSON and storage ---------------------------------------------------------------------------


def test_zip_holds_files_metadata_and_abi(tmp_path):
    source = parse_item(item(SourceCode=files_json({"src/Token.sol": TOKEN, "src/Maths.sol": LIB})))
    blob = to_zip(source)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert archive.namelist() == ["src/Token.sol", "src/Maths.sol", "metadata.json", "abi.json"]
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
        assert archive.read("src/Token.sol").decode("utf-8") == TOKEN
        metadata_text = archive.read("metadata.json").decode("utf-8")
        assert metadata_text.endswith("}\n")
        assert json.loads(metadata_text) == source.metadata
        assert json.loads(archive.read("abi.json")) == ABI


def test_zip_bytes_are_deterministic():
    source = parse_item(item(SourceCode=files_json({"Token.sol": TOKEN, "Maths.sol": LIB})))
    assert to_zip(source) == to_zip(parse_item(item(SourceCode=files_json({"Token.sol": TOKEN, "Maths.sol": LIB}))))


def test_non_ascii_content_is_written_as_utf8():
    source = parse_item(item(SourceCode="// Привет, 世界\ncontract Token {}\n", ContractFileName="Токен.sol"))
    with zipfile.ZipFile(io.BytesIO(to_zip(source))) as archive:
        assert archive.read("Токен.sol").decode("utf-8").startswith("// Привет, 世界")


def proxy_pair() -> ContractSource:
    proxy = parse_item(item(
        ContractName="Proxy",
        Proxy="1",
        Implementation="0x5555555555555555555555555555555555555555",
        SourceCode=files_json({"Proxy.sol": "contract Proxy {}\n"}),
    ))
    logic_code = standard_json({"src/Logic.sol": "contract Logic {}\n"})
    logic = parse_item(item(ContractName="Logic", ABI="[]", SourceCode=logic_code))
    return with_implementation(proxy, logic)


def test_proxy_zip_carries_the_implementation_under_its_folder(tmp_path):
    source = proxy_pair()
    assert source.implementation.contract_name == "Logic" and source.contract_name == "Proxy"
    names = assert_archive_is_safe(to_zip(source), tmp_path)
    assert names == [
        "Proxy.sol", "metadata.json", "abi.json",
        "implementation/src/Logic.sol", "implementation/metadata.json", "implementation/abi.json",
    ]
    assert json.loads((tmp_path / "implementation" / "metadata.json").read_text())["contract_name"] == "Logic"
    assert json.loads((tmp_path / "implementation" / "abi.json").read_text()) == []


def test_proxy_json_nests_the_implementation():
    document = to_json(proxy_pair())
    assert document["files"] == {"Proxy.sol": "contract Proxy {}\n"}
    assert document["metadata"]["implementation"] == "0x5555555555555555555555555555555555555555"
    assert document["abi"] == ABI
    assert document["implementation"]["files"] == {"src/Logic.sol": "contract Logic {}\n"}
    assert document["implementation"]["implementation"] is None
    json.dumps(document)  # serialisable as is


def test_json_of_a_plain_contract_has_no_implementation():
    assert to_json(parse_item(item()))["implementation"] is None


def test_compress_and_decompress_round_trip():
    source = proxy_pair()
    blob = compress(source)
    assert blob.startswith(b"\x28\xb5\x2f\xfd")  # a zstd frame
    restored = decompress(blob)
    assert restored == source
    assert list(restored.files) == list(source.files)
    assert to_zip(restored) == to_zip(source)


def test_compress_round_trips_non_ascii_and_file_order():
    files = {"z.sol": "// ünïcødé ✓\n", "a.sol": "// a\n"}
    source = parse_item(item(SourceCode=files_json(files)))
    restored = decompress(compress(source))
    assert restored.files == files and list(restored.files) == ["z.sol", "a.sol"]


def test_a_blob_stored_before_providers_existed_still_reads_as_etherscan():
    document = {"files": {"Token.sol": TOKEN}, "abi": ABI, "implementation": None,
                "metadata": {"contract_name": "Token", "language": "Solidity", "files": ["Token.sol"]}}
    old_blob = zlib.compress(json.dumps(document, separators=(",", ":")).encode("ascii"), 9)
    restored = decompress(old_blob)
    assert restored.files == {"Token.sol": TOKEN} and restored.abi == ABI
    assert restored.provider == "etherscan"


def test_a_zlib_blob_of_the_current_form_still_reads():
    """Blobs stored before zstd are zlib streams of the same JSON."""
    source = proxy_pair()
    restored = decompress(zlib.compress(zstandard.ZstdDecompressor().decompress(compress(source)), 1))
    assert restored == source


def test_source_error_carries_code_and_message():
    error = SourceError("not_verified", "nope")
    assert (error.code, error.message, str(error)) == ("not_verified", "nope", "nope")

"""The fake's contracts: one per address and chain, built from the templates, as every explorer knows it.

A `Contract` holds what is true of the contract whoever serves it (files, ABI, compiler, settings, license,
proxy), which the Sourcify and Blockscout fakes render in their formats, and the item Etherscan serves for it,
whose encodings of ``SourceCode`` follow the real captured answers: plain text, a single-brace JSON object of
files, or standard-JSON input wrapped in double braces with CRLF line endings. A contract derives only from
the address's hex digits and the chain id (which goes into a source comment).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from string import Template

from ethsource.addresses import to_checksum

from .shapes import derived, digest, form_of, hex40, implementation_hex, verifier_of

# --- templates -------------------------------------------------------------------------
# Sources and ABIs are package data under templates/; `${name}` placeholders are string.Template's.

_TEMPLATES = resources.files(__package__) / "templates"


def _template(path: str) -> Template:
    return Template((_TEMPLATES / path).read_text(encoding="utf-8"))


def _abi(name: str) -> list:
    return json.loads((_TEMPLATES / "abi" / name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Contract:
    """One contract of the corpus. Shared by every caller through a cache: read it, never change it."""

    name: str
    main_path: str
    files: dict[str, str]  # path -> content, dependencies first, as a compiler input lists them
    abi: list
    language: str  # "Solidity" or "Vyper"
    compiler_version: str  # without a prefix: "0.8.20+commit.a1b79de6", "0.3.10", "0.4.0+commit.e9db8d9"
    settings: dict  # the standard-JSON `settings` it was compiled with
    optimized: bool
    runs: int | None
    license: str  # SPDX identifier of the main file
    constructor_args: str  # ABI-encoded, hex without 0x
    libraries: dict[str, str]  # linked library name -> 0x address
    implementation: str | None  # 0x address behind a proxy
    etherscan_item: dict  # Etherscan's getsourcecode result item for it


def contract_of(chain_id: int, address: str) -> Contract | None:
    """The contract at the address (whoever verifies it, if anyone); None for Etherscan's error shapes."""
    return _contract(chain_id, hex40(address))


def expected_files(chain_id: int, address: str) -> dict[str, str]:
    """The source files the explorer that verifies the address serves (path as given -> content); {} if none."""
    contract = contract_of(chain_id, address)
    return dict(contract.files) if contract and verifier_of(address) else {}


@lru_cache(maxsize=512)
def _contract(chain_id: int, digits: str) -> Contract | None:
    form = form_of("0x" + digits)
    if form is None:
        return None
    if form == "proxy":
        return _proxy_contract(chain_id, digits)
    if form.startswith("vyper"):
        return _vyper_contract(form, chain_id, digits)
    return _solidity_contract(form, chain_id, digits)


# --- Solidity ------------------------------------------------------------------------------

_TOKEN = _template("solidity/Token.sol")
_VAULT = _template("solidity/Vault.sol")
_TOKEN_ABI = _abi("token.json")
_VAULT_ABI = _abi("vault.json")
_ERC1967_PROXY_ABI = _abi("erc1967_proxy.json")
_TRANSPARENT_PROXY_ABI = _abi("transparent_proxy.json")

_OZ = "@openzeppelin/contracts/"
# path -> (OpenZeppelin origin line or None, pragma, imports, body)
_SOLIDITY_UNITS: dict[str, tuple[str | None, str, tuple[str, ...], Template]] = {
    _OZ + "utils/Context.sol": ("utils/Context.sol", "^0.8.0", (), _template("solidity/Context.sol")),
    _OZ + "utils/Address.sol": ("utils/Address.sol", "^0.8.1", (), _template("solidity/Address.sol")),
    _OZ + "token/ERC20/IERC20.sol": ("token/ERC20/IERC20.sol", "^0.8.0", (), _template("solidity/IERC20.sol")),
    _OZ + "access/Ownable.sol": (
        "access/Ownable.sol",
        "^0.8.0",
        ("../utils/Context.sol",),
        _template("solidity/Ownable.sol"),
    ),
    _OZ + "proxy/Proxy.sol": ("proxy/Proxy.sol", "^0.8.0", (), _template("solidity/Proxy.sol")),
    _OZ + "proxy/ERC1967/ERC1967Upgrade.sol": (
        "proxy/ERC1967/ERC1967Upgrade.sol",
        "^0.8.2",
        ("../../utils/Address.sol",),
        _template("solidity/ERC1967Upgrade.sol"),
    ),
    _OZ + "proxy/ERC1967/ERC1967Proxy.sol": (
        "proxy/ERC1967/ERC1967Proxy.sol",
        "^0.8.0",
        ("../Proxy.sol", "./ERC1967Upgrade.sol"),
        _template("solidity/ERC1967Proxy.sol"),
    ),
    _OZ + "proxy/transparent/TransparentUpgradeableProxy.sol": (
        "proxy/transparent/TransparentUpgradeableProxy.sol",
        "^0.8.0",
        ("../ERC1967/ERC1967Proxy.sol",),
        _template("solidity/TransparentUpgradeableProxy.sol"),
    ),
    "contracts/token/ERC20.sol": (
        None,
        "^0.8.0",
        (_OZ + "token/ERC20/IERC20.sol", _OZ + "utils/Context.sol"),
        _template("solidity/ERC20.sol"),
    ),
    "contracts/libraries/SafeMathLib.sol": (None, "^0.8.0", (), _template("solidity/SafeMathLib.sol")),
}

# Dependencies in the order a flattener would emit them; the main contract comes last.
_TOKEN_DEPS = (
    _OZ + "utils/Context.sol",
    _OZ + "token/ERC20/IERC20.sol",
    "contracts/token/ERC20.sol",
    _OZ + "access/Ownable.sol",
)
_VAULT_DEPS = (
    _OZ + "utils/Context.sol",
    _OZ + "token/ERC20/IERC20.sol",
    _OZ + "access/Ownable.sol",
    "contracts/libraries/SafeMathLib.sol",
)
_TOKEN_IMPORTS = ("./token/ERC20.sol", _OZ + "access/Ownable.sol")
_VAULT_IMPORTS = (_OZ + "token/ERC20/IERC20.sol", _OZ + "access/Ownable.sol", "./libraries/SafeMathLib.sol")


_TOKEN_NAMES = (("AcmeToken", "ACME"), ("NebulaToken", "NEB"), ("HarborCoin", "HBR"), ("QuartzToken", "QTZ"))
_VAULT_NAMES = ("YieldVault", "TreasuryVault", "RewardVault", "StakingVault")
_SOLC_VERSIONS = (
    ("v0.8.19+commit.7dd6d404", "paris"),
    ("v0.8.20+commit.a1b79de6", "shanghai"),
    ("v0.8.21+commit.d9974bed", "shanghai"),
    ("v0.8.24+commit.e11b9ed9", "cancun"),
)
# (SPDX identifier, Etherscan LicenseType)
_LICENSES = (("MIT", "MIT"), ("MIT", "MIT"), ("GPL-3.0-or-later", "GNU GPLv3"), ("UNLICENSED", "None"))
_RUNS = ("200", "1000", "10000", "999999")
_OUTPUT_SELECTION = ["evm.bytecode", "evm.deployedBytecode", "devdoc", "userdoc", "metadata", "abi"]
_DOC_BLOCK = re.compile(r"^ *(/\*\*.*?\*/|///[^\n]*)\n", re.M | re.S)


def _corpus_tag(comment: str, chain_id: int, digits: str) -> str:
    # Puts the address into every file so no two contracts share a source tree.
    return f"{comment} ethsource fake Etherscan corpus: chain {chain_id}, contract {to_checksum('0x' + digits)}"


def _solidity_file(path: str, spdx: str, tag: str, values: dict) -> str:
    origin, pragma, imports, body = _SOLIDITY_UNITS[path]
    lines = [f"// SPDX-License-Identifier: {'MIT' if origin else spdx}"]
    if origin:
        lines.append(f"// OpenZeppelin Contracts (last updated v4.9.0) ({origin})")
    lines += [tag, "", f"pragma solidity {pragma};", ""]
    if imports:
        lines += [f'import "{i}";' for i in imports] + [""]
    return "\n".join(lines) + "\n" + body.substitute(values)


def _main_solidity_file(pragma: str, spdx: str, tag: str, imports: tuple[str, ...], body: Template, values) -> str:
    lines = [f"// SPDX-License-Identifier: {spdx}", tag, "", f"pragma solidity {pragma};", ""]
    lines += [f'import "{i}";' for i in imports]
    return "\n".join(lines) + "\n\n" + body.substitute(values)


def _flattened(pragma: str, spdx: str, tag: str, deps: tuple[str, ...], body: Template, values) -> str:
    # Flattened sources drop the dependencies' NatSpec to stay small, as flatteners often do.
    parts = [_DOC_BLOCK.sub("", _SOLIDITY_UNITS[d][3].substitute(values)) for d in deps]
    header = f"// SPDX-License-Identifier: {spdx}\n{tag}\n\npragma solidity {pragma};\n\n"
    return header + "\n".join(parts + [body.substitute(values)])


def _word(value: int | str) -> str:
    """One 32-byte ABI word: an int, or a 40-hex address."""
    return f"{value:064x}" if isinstance(value, int) else value.rjust(64, "0")


def _abi_string(abi: list) -> str:
    return json.dumps(abi, separators=(",", ":"))


def _standard_json(document: dict) -> str:
    # Etherscan stores standard-JSON input with CRLF and 2-space indent, inside an extra pair of braces.
    return "{" + json.dumps(document, indent=2).replace("\n", "\r\n") + "}"


def _files_json(files: dict[str, str]) -> str:
    # The single-brace form comes out of a Go encoder: compact, with HTML-sensitive characters escaped.
    text = json.dumps({path: {"content": content} for path, content in files.items()}, separators=(",", ":"))
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("'", "\\u0027")):
        text = text.replace(char, escape)
    return text


def _solidity_contract(form: str, chain_id: int, digits: str) -> Contract:
    h = digest(digits)
    is_vault = h[1] % 4 == 3  # a quarter of the Solidity contracts link an external library
    compiler, evm = _SOLC_VERSIONS[h[2] % len(_SOLC_VERSIONS)]
    spdx, license_type = _LICENSES[h[3] % len(_LICENSES)]
    optimized = h[4] % 3 != 0
    runs = _RUNS[h[5] % len(_RUNS)] if optimized else "200"
    owner = derived(digits, "owner")
    pragma = "^" + compiler[1 : compiler.index("+")]
    tag = _corpus_tag("//", chain_id, digits)

    if is_vault:
        name = _VAULT_NAMES[h[6] % len(_VAULT_NAMES)]
        values = {"name": name}
        deps, imports, body, abi = _VAULT_DEPS, _VAULT_IMPORTS, _VAULT, _VAULT_ABI
        library_hex = derived(digits, "library")
        constructor_args = _word(derived(digits, "asset")) + _word(owner)
    else:
        name, symbol = _TOKEN_NAMES[h[6] % len(_TOKEN_NAMES)]
        cap = (1_000_000, 21_000_000, 100_000_000)[h[7] % 3]
        values = {"name": name, "symbol": symbol, "cap": f"{cap:_}"}
        deps, imports, body, abi = _TOKEN_DEPS, _TOKEN_IMPORTS, _TOKEN, _TOKEN_ABI
        library_hex = None
        constructor_args = _word(owner) + _word((1 + h[8]) * 1000 * 10**18)

    settings = {
        "optimizer": {"enabled": optimized, "runs": int(runs)},
        "evmVersion": evm,
        "outputSelection": {"*": {"*": _OUTPUT_SELECTION}},
        "metadata": {"useLiteralContent": True},
        "libraries": {"contracts/libraries/SafeMathLib.sol": {"SafeMathLib": "0x" + library_hex}} if is_vault else {},
    }
    if form == "solidity_single":
        main_path = f"{name}.sol"
        files = {main_path: _flattened(pragma, spdx, tag, deps, body, values)}
        source_code = files[main_path]
        if is_vault:  # flattened, the library is declared in the one file, which is where it was linked
            settings["libraries"] = {main_path: {"SafeMathLib": "0x" + library_hex}}
    else:
        main_path = f"contracts/{name}.sol"
        files = {d: _solidity_file(d, spdx, tag, values) for d in deps}
        files[main_path] = _main_solidity_file(pragma, spdx, tag, imports, body, values)
        if form == "solidity_multi":
            source_code = _files_json(files)
        else:
            source_code = _standard_json(
                {
                    "language": "Solidity",
                    "sources": {path: {"content": content} for path, content in files.items()},
                    "settings": settings,
                }
            )

    item = {
        "SourceCode": source_code,
        "ABI": _abi_string(abi),
        "ContractName": name,
        "ContractFileName": main_path,
        "CompilerVersion": compiler,
        "OptimizationUsed": "1" if optimized else "0",
        "Runs": runs,
        "ConstructorArguments": constructor_args,
        "EVMVersion": evm if form == "solidity_standard_json" or h[9] % 2 else "Default",
        "Library": f"SafeMathLib:0x{library_hex}" if library_hex else "",
        "LicenseType": license_type,
        "Proxy": "0",
        "Implementation": "",
        "SwarmSource": "" if form == "solidity_standard_json" else "ipfs://" + digest(digits, "swarm").hex(),
    }
    return Contract(
        name=name, main_path=main_path, files=files, abi=abi, language="Solidity", compiler_version=compiler[1:],
        settings=settings, optimized=optimized, runs=int(runs), license=spdx, constructor_args=constructor_args,
        libraries={"SafeMathLib": "0x" + library_hex} if library_hex else {}, implementation=None,
        etherscan_item=item,
    )


def _proxy_contract(chain_id: int, digits: str) -> Contract:
    h = digest(digits)
    compiler, evm = _SOLC_VERSIONS[h[2] % len(_SOLC_VERSIONS)]
    implementation = implementation_hex(digits)
    tag = _corpus_tag("//", chain_id, digits)
    paths = [
        _OZ + "utils/Address.sol",
        _OZ + "proxy/Proxy.sol",
        _OZ + "proxy/ERC1967/ERC1967Upgrade.sol",
        _OZ + "proxy/ERC1967/ERC1967Proxy.sol",
    ]
    if h[1] % 2:
        name, abi = "TransparentUpgradeableProxy", _TRANSPARENT_PROXY_ABI
        paths.append(_OZ + "proxy/transparent/TransparentUpgradeableProxy.sol")
        # (address _logic, address admin_, bytes _data) with empty _data
        constructor_args = _word(implementation) + _word(derived(digits, "admin")) + _word(0x60) + _word(0)
    else:
        name, abi = "ERC1967Proxy", _ERC1967_PROXY_ABI
        constructor_args = _word(implementation) + _word(0x40) + _word(0)
    files = {path: _solidity_file(path, "MIT", tag, {}) for path in paths}
    settings = {
        "optimizer": {"enabled": True, "runs": 200},
        "evmVersion": evm,
        "outputSelection": {"*": {"*": _OUTPUT_SELECTION}},
        "libraries": {},
    }
    source_code = _standard_json(
        {
            "language": "Solidity",
            "sources": {path: {"content": content} for path, content in files.items()},
            "settings": settings,
        }
    )
    item = {
        "SourceCode": source_code,
        "ABI": _abi_string(abi),
        "ContractName": name,
        "ContractFileName": paths[-1],
        "CompilerVersion": compiler,
        "OptimizationUsed": "1",
        "Runs": "200",
        "ConstructorArguments": constructor_args,
        "EVMVersion": evm,
        "Library": "",
        "LicenseType": "MIT",
        "Proxy": "1",
        "Implementation": "0x" + implementation,
        "SwarmSource": "",
    }
    return Contract(
        name=name, main_path=paths[-1], files=files, abi=abi, language="Solidity", compiler_version=compiler[1:],
        settings=settings, optimized=True, runs=200, license="MIT", constructor_args=constructor_args, libraries={},
        implementation="0x" + implementation, etherscan_item=item,
    )


# --- Vyper ---------------------------------------------------------------------------------

_VYPER_TOKEN = _template("vyper/Token.vy")
_SNEKMATE_OWNABLE = _template("vyper/ownable.vy")
_SPLITTER_INTERFACE = _template("vyper/ISplitter.vyi")
_SPLITTER = _template("vyper/Splitter.vy")
_VYPER_TOKEN_ABI = _abi("vyper_token.json")
_SPLITTER_ABI = _abi("splitter.json")

_VYPER_TOKEN_NAMES = (("LiquidityToken", "LQT"), ("GaugeShare", "GSH"), ("PoolToken", "PLT"))
_VYPER_LEGACY_VERSIONS = ("0.3.10", "0.3.9", "0.3.7")
_SPLITTER_NAMES = ("FeeSplitter", "RevenueRouter", "RewardsDistributor")
_VYPER_MODERN_VERSIONS = (("0.4.0", "v0.4.0+commit.e9db8d9"), ("0.4.1", "v0.4.1+commit.8a93dd27"))
_SITE_PACKAGES = ".venv/lib/python3.12/site-packages"


def _vyper_contract(form: str, chain_id: int, digits: str) -> Contract:
    h = digest(digits)
    tag = _corpus_tag("#", chain_id, digits)
    owner = derived(digits, "owner")
    if form == "vyper_single":
        name, symbol = _VYPER_TOKEN_NAMES[h[1] % len(_VYPER_TOKEN_NAMES)]
        version = _VYPER_LEGACY_VERSIONS[h[2] % len(_VYPER_LEGACY_VERSIONS)]
        full_version = version
        main_path = f"{name}.vy"
        files = {main_path: _VYPER_TOKEN.substitute(version=version, name=name, symbol=symbol, tag=tag)}
        settings = {"optimize": True}
        source_code = files[main_path]
        abi = _VYPER_TOKEN_ABI
        constructor_args = _word((1 + h[3]) * 10**24) + _word(owner)
    else:
        name = _SPLITTER_NAMES[h[1] % len(_SPLITTER_NAMES)]
        version, long_version = _VYPER_MODERN_VERSIONS[h[2] % len(_VYPER_MODERN_VERSIONS)]
        full_version = long_version[1:]
        main_path = f"contracts/{name}.vy"
        files = {
            f"{_SITE_PACKAGES}/snekmate/auth/ownable.vy": _SNEKMATE_OWNABLE.substitute(tag=tag),
            f"contracts/interfaces/I{name}.vyi": _SPLITTER_INTERFACE.substitute(name=name, tag=tag),
            main_path: _SPLITTER.substitute(name=name, tag=tag),
        }
        sources = {
            path: {"content": content, "sha256sum": hashlib.sha256(content.encode()).hexdigest()}
            for path, content in files.items()
        }
        integrity = hashlib.sha256("".join(s["sha256sum"] for s in sources.values()).encode()).hexdigest()
        settings = {
            "outputSelection": {main_path: ["evm.bytecode", "evm.deployedBytecode", "abi"]},
            "search_paths": [_SITE_PACKAGES, "."],
        }
        source_code = _standard_json(
            {
                "language": "Vyper",
                "sources": sources,
                "settings": settings,
                "compiler_version": long_version,
                "integrity": integrity,
            }
        )
        abi = _SPLITTER_ABI
        constructor_args = _word(derived(digits, "token")) + _word(owner)

    item = {
        "SourceCode": source_code,
        "ABI": _abi_string(abi),
        "ContractName": name,
        "ContractFileName": main_path,
        "CompilerVersion": f"vyper:{version}",
        "OptimizationUsed": "1",
        "Runs": "0",
        "ConstructorArguments": constructor_args,
        "EVMVersion": "Default",
        "Library": "",
        "LicenseType": "MIT",
        "Proxy": "0",
        "Implementation": "",
        "SwarmSource": "",
    }
    return Contract(
        name=name, main_path=main_path, files=files, abi=abi, language="Vyper", compiler_version=full_version,
        settings=settings, optimized=True, runs=None, license="MIT", constructor_args=constructor_args,
        libraries={}, implementation=None, etherscan_item=item,
    )

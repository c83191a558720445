"""The `foundry` download format: a stored contract source as a zip that `forge build` accepts as it is.

A Foundry project here is the verified sources at their own paths with `metadata.json` and `abi.json` (as in the
plain zip), a `foundry.toml` that pins what the explorer verified (compiler, optimizer, EVM version, via-IR,
metadata hash, revert strings, linked libraries) and a `remappings.txt` holding the verified remappings only.

The settings come from the standard-JSON input when Etherscan gave one, with solc's own defaults for what it
leaves out (it is exactly what was compiled); otherwise from the item's top-level fields.

A proxy stored with its implementation becomes two projects side by side, `proxy/` and `implementation/`: with
`src = "."`, a project nested in another would have its files compiled by the outer one's solc (forge's `skip`
only prunes the output, solc still reads every file).

Vyper is refused (FormatNotApplicable): forge compiles `.vy` files with whatever `vyper` is installed and has no
setting that pins the version a contract was verified with, so it could not promise the verified build.
"""

import io
import re
import zipfile
from dataclasses import replace

from .errors import InvalidInput
from .sources import ContractSource, safe_path
from .sources.archive import write_file, write_tree
from .sources.tree import IMPLEMENTATION_DIR

PROXY_DIR = "proxy"
# Files each project has at its root besides the sources; a source with one of these names would be replaced.
PROJECT_FILES = frozenset({"foundry.toml", "remappings.txt"})

# solc's default EVM version from each release on; before 0.4.21 solc had no EVM version to set.
SOLC_DEFAULT_EVM = (
    ((0, 4, 21), "byzantium"),
    ((0, 5, 5), "petersburg"),
    ((0, 5, 14), "istanbul"),
    ((0, 8, 5), "berlin"),
    ((0, 8, 7), "london"),
    ((0, 8, 18), "paris"),
    ((0, 8, 20), "shanghai"),
    ((0, 8, 25), "cancun"),
    ((0, 8, 30), "prague"),
    ((0, 8, 31), "osaka"),
)
SOLC_DEFAULT_RUNS = 200

_SOLC_RELEASE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)(?:\+commit\.[0-9a-fA-F]+)?")
# What a TOML basic string may not hold raw, and what UTF-8 cannot encode at all.
_TOML_ESCAPED = re.compile('["\\\\\x00-\x1f\x7f]')
_SURROGATES = re.compile("[\ud800-\udfff]")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_HEADER = "# Written by ethsource from the settings this contract was verified with.\n"


class FormatNotApplicable(InvalidInput):
    """The contract cannot be given as a Foundry project (Vyper, a nightly compiler, a clashing file name)."""

    code = "format_not_applicable"


def to_zip(source: ContractSource) -> bytes:
    """The Foundry project(s) of a source; raises FormatNotApplicable before writing anything it cannot express."""
    projects = list(_projects(source, ""))
    configs = [(prefix, project, _foundry_toml(project), _remappings_txt(project)) for prefix, project in projects]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for prefix, project, toml, remappings in configs:
            write_tree(archive, project, prefix)
            write_file(archive, prefix + "foundry.toml", toml)
            write_file(archive, prefix + "remappings.txt", remappings)
    return buffer.getvalue()


def _projects(source: ContractSource, prefix: str):
    """(folder prefix, source without implementation) for each project the zip holds."""
    if source.implementation is None:
        yield prefix, source
        return
    yield f"{prefix}{PROXY_DIR}/", replace(source, implementation=None)
    yield from _projects(source.implementation, f"{prefix}{IMPLEMENTATION_DIR}/")


def _foundry_toml(source: ContractSource) -> str:
    """The project's foundry.toml; FormatNotApplicable for what forge cannot be told to reproduce."""
    if source.language.casefold() == "vyper":
        raise FormatNotApplicable(
            "forge cannot pin the Vyper compiler a contract was verified with; download format=zip instead")
    clashes = sorted(path for path in source.files if path.casefold() in PROJECT_FILES)
    if clashes:
        raise FormatNotApplicable(f"the verified sources hold {', '.join(clashes)}, which a Foundry project needs")
    metadata = source.metadata
    version = _solc_version(metadata.get("compiler_version"))
    settings = metadata.get("settings")
    if settings is None:
        optimizer = metadata["optimizer"]
        evm_version = metadata.get("evm_version")
        libraries = _top_level_libraries(source)
        settings = {}
    else:
        optimizer = _section(settings, "optimizer")
        evm_version = settings.get("evmVersion")
        libraries = _standard_json_libraries(source, _section(settings, "libraries"))
    compiled_metadata = _section(settings, "metadata")
    profile = {
        "src": ".",  # the sources keep their verified paths, which are their solc source unit names
        "solc_version": ".".join(map(str, version)),
        "auto_detect_solc": False,
        "evm_version": _lower(evm_version or _default_evm(version)),
        "optimizer": bool(optimizer.get("enabled", False)),
        "optimizer_runs": _runs(optimizer.get("runs")),
        "via_ir": bool(settings.get("viaIR", False)),
        "bytecode_hash": _lower(compiled_metadata.get("bytecodeHash")),
        "cbor_metadata": compiled_metadata.get("appendCBOR"),
        "use_literal_content": compiled_metadata.get("useLiteralContent"),
        "revert_strings": _section(settings, "debug").get("revertStrings"),
        "libraries": libraries,
        "auto_detect_remappings": False,  # only the verified remappings (remappings.txt) may apply
        "optimizer_details": optimizer.get("details"),
    }
    return _HEADER + "\n".join(_toml_table("profile.default", profile)) + "\n"


def _section(settings: dict, key: str) -> dict:
    """A standard-JSON settings object; absent means solc's defaults."""
    value = settings.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FormatNotApplicable(f"the verified setting {key!r} is not an object")
    return value


def _solc_version(compiler_version: str | None) -> tuple[int, int, int]:
    match = _SOLC_RELEASE.fullmatch((compiler_version or "").strip())
    if not match:
        raise FormatNotApplicable(
            f"the compiler {compiler_version!r} is not a solc release that forge can install; download format=zip")
    major, minor, patch = map(int, match.groups())
    return major, minor, patch


def _default_evm(version: tuple[int, int, int]) -> str | None:
    """What solc compiled for when nothing was set ("Default" on Etherscan); forge's own default is newer."""
    chosen = None
    for since, evm in SOLC_DEFAULT_EVM:
        if version >= since:
            chosen = evm
    return chosen


def _runs(runs) -> int:
    if runs is None:
        return SOLC_DEFAULT_RUNS
    if isinstance(runs, bool) or not isinstance(runs, int) or not 0 <= runs < 2**32:
        raise FormatNotApplicable(f"the verified optimizer runs {runs!r} is not a number of runs solc accepts")
    return runs


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def _standard_json_libraries(source: ContractSource, libraries: dict) -> list[str]:
    """`settings.libraries` {file: {name: address}} as Foundry's `file:name:address`, at the file's zip path."""
    moved = {raw: path for path, raw in source.metadata.get("path_changes", {}).items()}
    entries = []
    for file, links in libraries.items():
        if not isinstance(links, dict):
            raise FormatNotApplicable(f"the verified libraries of {file!r} are not an object")
        for name, address in links.items():
            entries.append(_library(moved.get(file, file), name, address))
    return entries


def _top_level_libraries(source: ContractSource) -> list[str]:
    """Etherscan's `Library` field names no file: link each library where the sources declare it.

    A library declared nowhere is linked at the global level (an empty file name, as solc allows).
    """
    entries = []
    for name, address in source.metadata.get("library_links", {}).items():
        declaration = re.compile(rf"\blibrary\s+{re.escape(name)}\b")
        file = next((path for path, text in source.files.items() if declaration.search(text)), "")
        entries.append(_library(file, name, address))
    return entries


def _library(file: str, name: str, address: str) -> str:
    parts = (file, name, address)
    if not all(isinstance(part, str) for part in parts) or any(":" in part or _CONTROL.search(part) for part in parts):
        raise FormatNotApplicable(f"the linked library {parts!r} cannot be written as Foundry's file:name:address")
    return ":".join(parts)


def _remappings_txt(source: ContractSource) -> str:
    remappings = (source.metadata.get("settings") or {}).get("remappings") or []
    if not isinstance(remappings, list):
        raise FormatNotApplicable("the verified remappings are not a list")
    return "".join(_remapping(raw) + "\n" for raw in remappings)


def _remapping(raw) -> str:
    """solc's `[context:]prefix=target`, its paths moved as the files were (sources.safe_path)."""
    if not isinstance(raw, str) or "=" not in raw or _CONTROL.search(raw):
        raise FormatNotApplicable(f"the verified remapping {raw!r} cannot be written to remappings.txt")
    left, _, target = raw.partition("=")
    context, _, prefix = left.partition(":") if ":" in left else ("", "", left)
    if not prefix:
        raise FormatNotApplicable(f"the verified remapping {raw!r} has no prefix")
    return (f"{_relocated(context)}:" if context else "") + f"{prefix}={_relocated(target)}"


def _relocated(path: str) -> str:
    """A remapping path, cleaned like the file paths so it still points at them and never out of the project."""
    if not any(part.strip(". ") for part in re.split(r"[\\/]", path)):
        return "./"  # the project root (or above it, which the files were also folded into)
    return safe_path(path) + ("/" if path.endswith(("/", "\\")) else "")


def _toml_table(name: str, table: dict) -> list[str]:
    """Lines of a TOML table; None values are left out (Foundry's default applies), dicts become sub-tables."""
    lines = [f"[{name}]"]
    for key, value in table.items():
        if value is not None and not isinstance(value, dict):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in table.items():
        if isinstance(value, dict):
            lines += ["", *_toml_table(f"{name}.{_toml_key(key)}", value)]
    return lines


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + "".join(f"\n    {_toml_value(item)}," for item in value) + ("\n]" if value else "]")
    raise FormatNotApplicable(f"the verified setting {value!r} cannot be written to foundry.toml")


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, so no value can end it early."""
    text = _SURROGATES.sub("\ufffd", text)
    return '"' + _TOML_ESCAPED.sub(lambda match: f"\\u{ord(match.group()):04X}", text) + '"'

"""Turn one Etherscan `getsourcecode` result item into a source tree that is safe to hand out.

Etherscan's `SourceCode` comes as plain text, as a JSON object of files, or as standard-JSON compiler
input (sometimes wrapped in an extra pair of braces), for Solidity and Vyper. This module parses all of
them into a `ContractSource`, cleans every file path so that none can leave the archive, and renders the
result as a zip, as JSON, or as the compressed blob the database stores.
"""

import io
import json
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass, replace

from .errors import AppError

NOT_VERIFIED_ABI = "Contract source code not verified"

# Names the archive itself uses at its root; a source file there would collide with them.
RESERVED_ROOT_FILES = frozenset({"metadata.json", "abi.json"})
IMPLEMENTATION_DIR = "implementation"
RESERVED_PREFIX = "_"

# Control characters (C0, DEL, C1) and lone surrogates, which cannot be encoded in a zip file name.
_UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_NO_LICENSE = frozenset({"", "none", "unknown"})
_DEFAULT_EVM = frozenset({"", "default"})

# The zip format cannot store times before 1980; a fixed time keeps the bytes reproducible.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class SourceError(AppError):
    """Etherscan answered, but its item cannot become a source tree (`not_verified`, `invalid_source`)."""

    def __init__(self, code: str, message: str):
        super().__init__(message, code)


@dataclass(frozen=True)
class ContractSource:
    files: dict[str, str]
    abi: list | None
    metadata: dict
    implementation: "ContractSource | None" = None

    @property
    def contract_name(self) -> str | None:
        return self.metadata.get("contract_name")

    @property
    def compiler_version(self) -> str | None:
        return self.metadata.get("compiler_version")

    @property
    def language(self) -> str:
        return self.metadata.get("language", "Solidity")

    @property
    def proxy(self) -> bool:
        return bool(self.metadata.get("proxy"))

    @property
    def implementation_address(self) -> str | None:
        return self.metadata.get("implementation")


def parse_item(item: dict) -> ContractSource:
    """Parse one element of `result`; raises SourceError when it holds no usable source."""
    if not isinstance(item, dict):
        raise SourceError("invalid_source", "the Etherscan result item is not an object")
    source_code = _text(item, "SourceCode")
    abi_text = _text(item, "ABI")
    if abi_text.strip() == NOT_VERIFIED_ABI or not source_code.strip():
        raise SourceError("not_verified", "the contract's source code is not verified on the explorer")

    compiler_version = _text(item, "CompilerVersion")
    vyper = compiler_version.lower().startswith("vyper")
    settings = None
    stripped = source_code.strip()
    if stripped.startswith("{"):
        document = _load_json(stripped)
        if "language" in document and "sources" in document:
            vyper = vyper or str(document["language"]).lower() == "vyper"
            raw_files = _files_of(_object(document, "sources"))
            if "interfaces" in document:
                raw_files += _files_of(_object(document, "interfaces"))
            if document.get("settings") is not None:
                settings = _object(document, "settings")
        else:
            raw_files = _files_of(document)
        if not raw_files:
            raise SourceError("invalid_source", "the source code JSON lists no files")
    else:
        name = _text(item, "ContractFileName") or _text(item, "ContractName") + (".vy" if vyper else ".sol")
        raw_files = [(name, source_code)]

    files, path_changes = _place(raw_files, vyper)
    metadata = {
        "contract_name": _text(item, "ContractName") or None,
        "contract_file_name": _text(item, "ContractFileName") or None,
        "language": "Vyper" if vyper else "Solidity",
        "compiler_version": compiler_version or None,
        "optimizer": {"enabled": _text(item, "OptimizationUsed") == "1", "runs": _runs(_text(item, "Runs"))},
        "evm_version": _known(_text(item, "EVMVersion"), _DEFAULT_EVM),
        "license": _known(_text(item, "LicenseType"), _NO_LICENSE),
        "constructor_arguments": _text(item, "ConstructorArguments").strip() or None,
        "library_links": _library_links(_text(item, "Library")),
        "proxy": _text(item, "Proxy") == "1",
        "implementation": _text(item, "Implementation").strip() or None,
        "swarm_source": _text(item, "SwarmSource").strip() or None,
        "settings": settings,
        "files": list(files),
        "path_changes": path_changes,
    }
    return ContractSource(files=files, abi=_abi(abi_text), metadata=metadata)


def safe_path(raw: str, *, vyper: bool = False) -> str:
    """A relative path with no way out of the directory it is extracted into.

    `..` steps back over a folder named before it (`a/../b.sol` is `b.sol`, as on disk) but never above
    the root: there it is dropped.
    """
    text = _UNSAFE_CHARS.sub("", raw.replace("\\", "/"))
    parts = [part.strip() for part in text.split("/") if part.strip()]
    if parts and _DRIVE.match(parts[0]):
        parts[0] = parts[0][2:].strip()
    segments: list[str] = []
    for part in parts:
        if part == "..":
            if segments:
                segments.pop()
        # Besides "." and "", this drops "..." and ". .", which Windows trims down to "." or "..".
        elif part.replace(".", "").strip():
            segments.append(part)
    if not segments:
        return "unnamed.vy" if vyper else "unnamed.sol"
    root = segments[0].casefold()
    if (len(segments) == 1 and root in RESERVED_ROOT_FILES) or root == IMPLEMENTATION_DIR:
        segments.insert(0, RESERVED_PREFIX)
    return "/".join(segments)


def with_implementation(proxy: ContractSource, implementation: ContractSource) -> ContractSource:
    return replace(proxy, implementation=implementation)


def to_zip(source: ContractSource) -> bytes:
    """The source tree plus metadata.json and abi.json; the same source always gives the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _write_tree(archive, source, "")
    return buffer.getvalue()


def to_json(source: ContractSource) -> dict:
    return {
        "files": dict(source.files),
        "metadata": source.metadata,
        "abi": source.abi,
        "implementation": to_json(source.implementation) if source.implementation else None,
    }


def compress(source: ContractSource) -> bytes:
    return zlib.compress(json.dumps(to_json(source), separators=(",", ":")).encode("ascii"), 9)


def decompress(blob: bytes) -> ContractSource:
    return _from_json(json.loads(zlib.decompress(blob)))


def _from_json(data: dict) -> ContractSource:
    implementation = data.get("implementation")
    return ContractSource(
        files=data["files"],
        abi=data["abi"],
        metadata=data["metadata"],
        implementation=_from_json(implementation) if implementation else None,
    )


def _write_tree(archive: zipfile.ZipFile, source: ContractSource, prefix: str) -> None:
    for path, content in source.files.items():
        _write(archive, prefix + path, content)
    metadata = json.dumps(source.metadata, indent=2, sort_keys=True, ensure_ascii=False)
    _write(archive, prefix + "metadata.json", metadata + "\n")
    _write(archive, prefix + "abi.json", json.dumps(source.abi, indent=2, ensure_ascii=False) + "\n")
    if source.implementation:
        _write_tree(archive, source.implementation, f"{prefix}{IMPLEMENTATION_DIR}/")


def _write(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whatever the host, so the bytes do not depend on where they were made
    info.external_attr = 0o644 << 16
    # A lone surrogate (broken JSON escapes upstream) must not turn a download into a crash.
    archive.writestr(info, text.encode("utf-8", errors="replace"))


def _place(raw_files: list[tuple[str, str]], vyper: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Give each file a safe, unique path, in Etherscan's order; record every path that changed."""
    files: dict[str, str] = {}
    changes: dict[str, str] = {}
    taken_files: set[str] = set()
    taken_dirs: set[str] = set()
    for raw, content in raw_files:
        path = _unique(safe_path(raw, vyper=vyper), taken_files, taken_dirs)
        files[path] = content
        if path != raw:
            changes[path] = raw
    return files, changes


def _unique(path: str, taken_files: set[str], taken_dirs: set[str]) -> str:
    """Rename until the path collides with no earlier file or folder.

    Names are compared case-folded because the zip is often extracted on case-insensitive file systems,
    where "A.sol" would overwrite "a.sol"; a file named like an earlier folder (or the reverse) could
    not be extracted at all.
    """
    segments = path.split("/")
    for i, segment in enumerate(segments):
        is_file = i == len(segments) - 1
        parent = "/".join(segments[:i] + [""])
        n = 1
        while True:
            name = _numbered(segment, n)
            key = (parent + name).casefold()
            if key not in taken_files and not (is_file and key in taken_dirs):
                break
            n += 1
        segments[i] = name
        (taken_files if is_file else taken_dirs).add(key)
    return "/".join(segments)


def _numbered(segment: str, n: int) -> str:
    """`b.sol` -> `b~2.sol`: the suffix goes before the extension so tools still know the language."""
    if n == 1:
        return segment
    stem, ext = posixpath.splitext(segment)
    return f"{stem}~{n}{ext}"


def _files_of(entries: dict) -> list[tuple[str, str]]:
    files = []
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise SourceError("invalid_source", f"source entry {name!r} is not an object")
        if isinstance(entry.get("content"), str):
            files.append((name, entry["content"]))
        elif "abi" in entry:  # a Vyper JSON interface: the file is the entry itself
            files.append((name, json.dumps({"abi": entry["abi"]}, indent=2) + "\n"))
        else:
            raise SourceError("invalid_source", f"source entry {name!r} has no text content")
    return files


def _load_json(text: str) -> dict:
    # Standard-JSON input comes wrapped in one extra pair of braces, which makes it invalid JSON as is.
    if text.startswith("{{") and text.endswith("}}"):
        text = text[1:-1]
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep to be a real source
        raise SourceError("invalid_source", f"the source code looks like JSON but does not parse: {exc}") from None
    if not isinstance(document, dict):
        raise SourceError("invalid_source", "the source code JSON is not an object")
    return document


def _object(document: dict, key: str) -> dict:
    value = document[key]
    if not isinstance(value, dict):
        raise SourceError("invalid_source", f"the standard JSON field {key!r} is not an object")
    return value


def _text(item: dict, key: str) -> str:
    """A string field; a missing or null one reads as empty, any other type means a malformed answer."""
    value = item.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SourceError("invalid_source", f"the field {key!r} is not a string")
    return value


def _abi(text: str) -> list | None:
    try:
        abi = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return abi if isinstance(abi, list) else None


def _runs(text: str) -> int | None:
    text = text.strip()
    return int(text) if re.fullmatch("[0-9]+", text) else None


def _known(text: str, unknown: frozenset[str]) -> str | None:
    text = text.strip()
    return None if text.casefold() in unknown else text


def _library_links(text: str) -> dict[str, str]:
    """`SafeMath:0x…` or `Lib1:0x…;Lib2:0x…` -> {name: address}; entries without both parts are skipped."""
    links = {}
    for entry in re.split(r"[;,]", text):
        name, _, address = entry.partition(":")
        if name.strip() and address.strip():
            links[name.strip()] = address.strip()
    return links

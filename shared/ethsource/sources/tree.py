"""A provider's files turned into a source tree: safe, unique paths, and the metadata every provider fills in.

Every parser ends in `assemble`, so a tree has the same metadata keys whoever served it: a download looks the
same, and `metadata.json` says which provider it came from.
"""

import json
import posixpath
import re

from .model import ContractSource, SourceError

# Names the archive itself uses at its root; a source file there would collide with them.
RESERVED_ROOT_FILES = frozenset({"metadata.json", "abi.json"})
IMPLEMENTATION_DIR = "implementation"
RESERVED_PREFIX = "_"

# Control characters (C0, DEL, C1) and lone surrogates, which cannot be encoded in a zip file name.
_UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def assemble(
    raw_files: list[tuple[str, str]],
    abi_json: str | None,
    *,
    provider: str,
    vyper: bool,
    contract_name: str | None,
    contract_file_name: str | None,
    language: str,
    compiler_version: str | None,
    optimizer: dict,
    evm_version: str | None,
    license: str | None,
    constructor_arguments: str | None,
    library_links: dict[str, str],
    proxy: bool,
    implementation: str | None,
    settings: dict | None,
    swarm_source: str | None = None,
    match: str | None = None,
    provider_fields: dict | None = None,
) -> ContractSource:
    """The tree of `raw_files` (path as the provider gave it, content), in the provider's order.

    `provider_fields` are the provider's own raw fields worth keeping; they go under `metadata[provider]`.
    """
    if not raw_files:
        raise SourceError("invalid_source", f"the {provider} answer lists no source files")
    files, path_changes = _place(raw_files, vyper)
    metadata = {
        "contract_name": contract_name,
        "contract_file_name": contract_file_name,
        "language": language,
        "compiler_version": compiler_version,
        "optimizer": optimizer,
        "evm_version": evm_version,
        "license": license,
        "constructor_arguments": constructor_arguments,
        "library_links": library_links,
        "proxy": proxy,
        "implementation": implementation,
        "swarm_source": swarm_source,
        "settings": settings,
        "files": list(files),
        "path_changes": path_changes,
        "provider": provider,
        "match": match,
    }
    if provider_fields is not None:
        metadata[provider] = provider_fields
    return ContractSource(files=files, abi_json=abi_json, metadata=metadata)


def files_of(entries: dict) -> list[tuple[str, str]]:
    """The files of a `{path: {"content": text}}` map (standard-JSON input, Sourcify's `sources`)."""
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


def _place(raw_files: list[tuple[str, str]], vyper: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Give each file a safe, unique path, in the provider's order; record every path that changed."""
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

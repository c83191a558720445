"""A source tree rendered for its readers: the zip and the JSON a download returns, the blob the database keeps."""

import io
import json
import threading
import zipfile
import zlib
from dataclasses import replace

import zstandard

from .. import jsontext
from .model import ContractSource
from .tree import IMPLEMENTATION_DIR

# The zip format cannot store times before 1980; a fixed time keeps the bytes reproducible.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# The stored blob is JSON in a zstd frame, level 1: the scanner is bound by its CPU, and that compresses the fake's
# answers (6-16 KiB of JSON) in 43 us against zlib level 1's 124 us, 2 % smaller, and decompresses in 18 us against
# 42 (docs/performance.md). Blobs stored before are zlib streams, told apart by zstd's magic number and still read.
_BLOB_LEVEL = 1
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_codecs = threading.local()  # a compressor and a decompressor per thread: neither may be shared between threads


def with_implementation(proxy: ContractSource, implementation: ContractSource) -> ContractSource:
    return replace(proxy, implementation=implementation)


def to_zip(source: ContractSource) -> bytes:
    """The source tree plus metadata.json and abi.json; the same source always gives the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        write_tree(archive, source, "")
    return buffer.getvalue()


def to_json(source: ContractSource) -> dict:
    return {
        "files": dict(source.files),
        "metadata": source.metadata,
        "abi": source.abi,
        "implementation": to_json(source.implementation) if source.implementation else None,
    }


def compress(source: ContractSource) -> bytes:
    if (compressor := getattr(_codecs, "compressor", None)) is None:
        compressor = _codecs.compressor = zstandard.ZstdCompressor(level=_BLOB_LEVEL)
    return compressor.compress(jsontext.dumps(_blob_json(source)))


def decompress(blob: bytes) -> ContractSource:
    return _from_blob_json(jsontext.loads(_inflated(blob)))


def _inflated(blob: bytes) -> bytes:
    if not blob.startswith(_ZSTD_MAGIC):
        return zlib.decompress(blob)
    if (decompressor := getattr(_codecs, "decompressor", None)) is None:
        decompressor = _codecs.decompressor = zstandard.ZstdDecompressor()
    return decompressor.decompress(blob)


def _blob_json(source: ContractSource) -> dict:
    """The stored form: as to_json, with the ABI kept as the provider's JSON text (not decoded to store it)."""
    return {
        "files": source.files,
        "metadata": source.metadata,
        "abi_json": source.abi_json,
        "implementation": _blob_json(source.implementation) if source.implementation else None,
    }


def _from_blob_json(data: dict) -> ContractSource:
    implementation = data.get("implementation")
    # Blobs stored before the ABI was kept as text hold it decoded, under "abi".
    abi_json = data["abi_json"] if "abi_json" in data else json.dumps(data.get("abi"))
    return ContractSource(
        files=data["files"],
        abi_json=abi_json,
        metadata=data["metadata"],
        implementation=_from_blob_json(implementation) if implementation else None,
    )


def write_tree(archive: zipfile.ZipFile, source: ContractSource, prefix: str) -> None:
    for path, content in source.files.items():
        write_file(archive, prefix + path, content)
    metadata = json.dumps(source.metadata, indent=2, sort_keys=True, ensure_ascii=False)
    write_file(archive, prefix + "metadata.json", metadata + "\n")
    write_file(archive, prefix + "abi.json", json.dumps(source.abi, indent=2, ensure_ascii=False) + "\n")
    if source.implementation:
        write_tree(archive, source.implementation, f"{prefix}{IMPLEMENTATION_DIR}/")


def write_file(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whatever the host, so the bytes do not depend on where they were made
    info.external_attr = 0o644 << 16
    # A lone surrogate (broken JSON escapes upstream) must not turn a download into a crash.
    archive.writestr(info, text.encode("utf-8", errors="replace"))

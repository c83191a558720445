"""Ethereum address validation and EIP-55 checksums."""

import re
from collections.abc import Container
from functools import lru_cache

from sha3 import keccak_256

from .errors import InvalidInput

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


# A status poll names the same address every second until its contract settles: the addresses in play are
# remembered (a few MB), as their checksums were a few percent of a poll's CPU.
@lru_cache(maxsize=16384)
def to_checksum(address: str) -> str:
    """EIP-55: each hex letter is upper case where the keccak of the lower-case address has a nibble >= 8."""
    body = address[2:].lower()
    digest = keccak_256(body.encode()).hexdigest()
    return "0x" + "".join([c.upper() if d >= "8" else c for c, d in zip(body, digest[:40], strict=True)])


def parse_address(raw: object) -> str:
    """The checksummed address, or InvalidInput saying exactly what is wrong.

    All-lower and all-upper addresses carry no checksum and are accepted; mixed case must match EIP-55.
    """
    if not isinstance(raw, str) or not _ADDRESS.fullmatch(raw):
        raise InvalidInput("address must be 0x followed by 40 hexadecimal characters", "malformed_address")
    checksummed = to_checksum(raw)
    body = raw[2:]
    if body != body.lower() and body != body.upper() and raw != checksummed:
        raise InvalidInput(f"address fails its EIP-55 checksum (expected {checksummed})", "bad_checksum")
    return checksummed


def address_or_none(raw: object) -> str | None:
    """The checksummed address, or None for anything that is not one (an explorer's empty or odd field)."""
    try:
        return parse_address(raw)
    except InvalidInput:
        return None


def parse_chain(chain_id: int, accepted: Container[int]) -> int:
    """The chain id when some source provider serves it (`accepted`: a ChainRegistry), else InvalidInput."""
    if chain_id not in accepted:
        raise InvalidInput(f"chain_id {chain_id} is not supported: no source provider serves it", "unsupported_chain")
    return chain_id

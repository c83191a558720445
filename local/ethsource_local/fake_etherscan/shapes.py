"""Which shape an address has in the fake, and so which explorer verifies it and how each one answers.

Everything derives from the address's lowercased 40 hex digits, so tests and load runs can rely on what an
address returns without storing anything:

- `bad0…` and `e770…` addresses are Etherscan's error shapes: its "Invalid address format" rejection and a
  permanent NOTOK. Sourcify knows neither; Blockscout answers 404, as for an address that is no contract.
- Otherwise sha256(hex) picks one of seven buckets by its first byte: six source shapes that Etherscan verifies
  (`ETHERSCAN_SHAPES`), or "not verified on Etherscan".
- An address Etherscan does not verify is split four ways by sha256("elsewhere:" + hex): verified only on
  Sourcify (`sourcify_exact_match`, `sourcify_match`), only on Blockscout (`blockscout`), or nowhere
  (`unverified`). Etherscan answers all four with its "not verified" item; Sourcify and Blockscout verify no
  address of another shape.

Every address that is not an error shape holds a contract of one `form` (one of `ETHERSCAN_SHAPES`): its own
shape when Etherscan verifies it, else picked by sha256("form:" + hex), so Sourcify and Blockscout serve
single-file, multi-file, Vyper and proxy contracts too.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from itertools import count, islice

from ethsource.addresses import to_checksum

ETHERSCAN_SHAPES = (
    "solidity_single",
    "solidity_multi",
    "solidity_standard_json",
    "vyper_single",
    "vyper_standard_json",
    "proxy",
)
ELSEWHERE_SHAPES = ("sourcify_exact_match", "sourcify_match", "blockscout", "unverified")
ERROR_SHAPES = ("invalid_address", "etherscan_error")
SHAPES = ETHERSCAN_SHAPES + ELSEWHERE_SHAPES + ERROR_SHAPES

# shape -> the one provider that verifies it (None: no one)
VERIFIER = {
    **dict.fromkeys(ETHERSCAN_SHAPES, "etherscan"),
    "sourcify_exact_match": "sourcify",
    "sourcify_match": "sourcify",
    "blockscout": "blockscout",
    **dict.fromkeys(("unverified", *ERROR_SHAPES)),
}

# The first hash byte picks one of these, in the order it always has; None is "not verified on Etherscan".
_ETHERSCAN_BUCKETS = (*ETHERSCAN_SHAPES[:5], None, "proxy")
_ERROR_PREFIXES = {"bad0": "invalid_address", "e770": "etherscan_error"}
# Implementations behind a proxy are contracts Etherscan verifies, in Solidity, never proxies themselves.
_IMPLEMENTATION_SHAPES = ("solidity_single", "solidity_multi", "solidity_standard_json")

ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")


def hex40(address: str) -> str:
    if not ADDRESS_RE.fullmatch(address):
        raise ValueError(f"not a 0x-prefixed 40-hex-digit address: {address!r}")
    return address[2:].lower()


def digest(hex_digits: str, label: str = "") -> bytes:
    return hashlib.sha256(f"{label}{hex_digits}".encode()).digest()


def derived(hex_digits: str, label: str) -> str:
    """A deterministic 40-hex address belonging to ``hex_digits`` (owner, library, implementation...)."""
    return digest(hex_digits, label + ":").hex()[:40]


def shape_of(address: str) -> str:
    digits = hex40(address)
    prefix_shape = _ERROR_PREFIXES.get(digits[:4])
    if prefix_shape:
        return prefix_shape
    bucket = _ETHERSCAN_BUCKETS[digest(digits)[0] % len(_ETHERSCAN_BUCKETS)]
    return bucket or ELSEWHERE_SHAPES[digest(digits, "elsewhere:")[0] % len(ELSEWHERE_SHAPES)]


def verifier_of(address: str) -> str | None:
    """`etherscan`, `sourcify` or `blockscout`: the one provider that verifies the address; None for no one."""
    return VERIFIER[shape_of(address)]


def form_of(address: str) -> str | None:
    """Which of `ETHERSCAN_SHAPES` the contract at the address is built like; None for the error shapes."""
    shape = shape_of(address)
    if shape in ERROR_SHAPES:
        return None
    if shape in ETHERSCAN_SHAPES:
        return shape
    return ETHERSCAN_SHAPES[digest(hex40(address), "form:")[0] % len(ETHERSCAN_SHAPES)]


@lru_cache(maxsize=4096)
def implementation_hex(digits: str) -> str:
    """The implementation behind the proxy-form contract at ``digits`` (whoever verifies it, if anyone)."""
    candidates = (derived(digits, f"implementation-{i}") for i in count())
    return next(c for c in candidates if shape_of("0x" + c) in _IMPLEMENTATION_SHAPES)


def implementation_of(address: str) -> str | None:
    """The lowercase implementation address behind a proxy that some explorer verifies, else None."""
    if form_of(address) != "proxy" or verifier_of(address) is None:
        return None
    return "0x" + implementation_hex(hex40(address))


@lru_cache(maxsize=1024)
def address_with_shape(shape: str, n: int = 0, form: str | None = None) -> str:
    """The n-th address (in a fixed search order) of ``shape`` (and ``form``, if given), EIP-55 checksummed."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    possible_forms = (shape,) if shape in ETHERSCAN_SHAPES else () if shape in ERROR_SHAPES else ETHERSCAN_SHAPES
    if form is not None and form not in possible_forms:
        raise ValueError(f"no {shape!r} address has the form {form!r}")
    # Error shapes live behind a prefix; hashing alone would almost never produce one.
    prefix = next((p for p, s in _ERROR_PREFIXES.items() if s == shape), "")
    seeds = (hashlib.sha256(f"ethsource-fake-etherscan:{i}".encode()).hexdigest() for i in count())
    candidates = ("0x" + prefix + seed[len(prefix) : 40] for seed in seeds)
    matching = (c for c in candidates if shape_of(c) == shape and form in (None, form_of(c)))
    return to_checksum(next(islice(matching, n, None)))

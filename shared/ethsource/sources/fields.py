"""Reading the loosely typed JSON providers send: missing or null means absent, a wrong type is `invalid_source`."""

from .. import jsontext
from .model import SourceError


def decode(data: str | bytes) -> object:
    """Parsed JSON; ValueError for anything else, including nesting too deep to be a real answer."""
    try:
        return jsontext.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def text(document: dict, key: str) -> str:
    value = document.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SourceError("invalid_source", f"the field {key!r} is not a string")
    return value


def flag(document: dict, key: str) -> bool | None:
    value = document.get(key)
    if value is not None and not isinstance(value, bool):
        raise SourceError("invalid_source", f"the field {key!r} is not a boolean")
    return value


def number(document: dict, key: str) -> int | None:
    value = document.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise SourceError("invalid_source", f"the field {key!r} is not an integer")
    return value


def mapping(document: dict, key: str) -> dict | None:
    value = document.get(key)
    if value is not None and not isinstance(value, dict):
        raise SourceError("invalid_source", f"the field {key!r} is not an object")
    return value


def sequence(document: dict, key: str) -> list | None:
    value = document.get(key)
    if value is not None and not isinstance(value, list):
        raise SourceError("invalid_source", f"the field {key!r} is not a list")
    return value


def known(value: str, unknown: frozenset[str]) -> str | None:
    """The value, or None when it is one of the provider's words for 'not known' (compared case-folded)."""
    value = value.strip()
    return None if value.casefold() in unknown else value


NO_LICENSE = frozenset({"", "none", "unknown"})
DEFAULT_EVM = frozenset({"", "default"})


def without_0x(value: str) -> str | None:
    """Hex as Etherscan writes it (no `0x`); None when empty."""
    value = value.strip()
    return value.removeprefix("0x").removeprefix("0X") or None


_LANGUAGES = {"solidity": "Solidity", "vyper": "Vyper", "yul": "Yul", "fe": "Fe"}


def language_name(value: str) -> str:
    """The language as the archive names it ("Solidity", "Vyper"), whatever case the provider writes it in."""
    return _LANGUAGES.get(value.strip().casefold(), value.strip()) or "Solidity"

"""The chains the fake serves: Etherscan v2's list (chains.json, package data), which Sourcify and Blockscout share."""

import json
from importlib import resources

CHAINS: tuple[dict, ...] = tuple(json.loads((resources.files(__package__) / "chains.json").read_text("utf-8")))
DEFAULT_CHAINS = frozenset(chain["chainid"] for chain in CHAINS)
_NAMES = {chain["chainid"]: chain["name"] for chain in CHAINS}


def chain_name(chain_id: int) -> str:
    return _NAMES.get(chain_id, f"Chain {chain_id}")


def chain_id_of(value: str | None) -> int | None:
    """A chain id given as text (a query or path parameter); None when it is not a number."""
    return int(value) if value and value.isascii() and value.isdigit() else None

"""The read use cases: contracts by key, one or many at once, and a scanned contract's source."""

from __future__ import annotations

from . import sources
from .errors import NotFound, NotReady
from .models import Contract, Status
from .sources import ContractSource
from .store import ContractStore, Key


def not_found(chain_id: int, address: str) -> NotFound:
    return NotFound(f"no contract {address} on chain {chain_id}; submit it with POST /contracts")


def get_many(store: ContractStore, keys: list[Key]) -> list[Contract | NotFound]:
    """The contract of each key, or NotFound, in one query."""
    found = store.get_many(keys)
    return [found[key] if key in found else not_found(*key) for key in keys]


def get_source(store: ContractStore, chain_id: int, address: str) -> tuple[Contract, ContractSource]:
    found = store.get_source((chain_id, address))
    if found is None:
        raise not_found(chain_id, address)
    contract, payload = found
    if contract.status is Status.ERROR:
        raise NotReady(f"the scan failed: {contract.error.code}: {contract.error.message}", "scan_failed")
    if contract.status is not Status.SUCCESS or payload is None:
        raise NotReady(f"the contract is {contract.status}; poll GET /contracts/{address} until SUCCESS")
    return contract, sources.decompress(payload)

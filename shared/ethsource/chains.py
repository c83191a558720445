"""The chains this service accepts: every chain some configured source provider serves, known in each process.

A request only reads a set in memory. The providers' own lists (Etherscan's `/v2/chainlist`, Sourcify's
`/chains`) are fetched by a served process before its first request (`refresh`, its warm-up), else on a thread
that the first check starts, and again every `REFRESH_S` off the request path; a list that cannot be fetched
keeps its last good value, and until one came, its fallback (Etherscan's: the built-in list below; Sourcify's:
none). Blockscout serves the chains of BLOCKSCOUT_API_URLS.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import httpx

from .sources.fields import decode

log = logging.getLogger(__name__)

# Etherscan's chains when its /v2/chainlist cannot be reached.
ETHERSCAN_CHAINS: dict[int, str] = {
    1: "Ethereum",
    11155111: "Sepolia",
    17000: "Holesky",
    56: "BNB Smart Chain",
    97: "BNB Smart Chain Testnet",
    137: "Polygon",
    80002: "Polygon Amoy",
    42161: "Arbitrum One",
    421614: "Arbitrum Sepolia",
    10: "OP Mainnet",
    11155420: "OP Sepolia",
    8453: "Base",
    84532: "Base Sepolia",
    43114: "Avalanche C-Chain",
    43113: "Avalanche Fuji",
    59144: "Linea",
    534352: "Scroll",
    324: "zkSync Era",
    81457: "Blast",
    100: "Gnosis",
    250: "Fantom",
    1284: "Moonbeam",
    42220: "Celo",
    5000: "Mantle",
}

REFRESH_S = 3600.0  # the providers add chains now and then; an hour old is fresh enough
RETRY_S = 60.0  # after a failed fetch
FETCH_TIMEOUT_S = 10.0
MAX_LIST_BYTES = 8 * 1024 * 1024  # Sourcify's list, RPC URLs included, is a few hundred KiB


@dataclass
class ChainList:
    """One provider's chains: fetched by `fetch` (None: a fixed list), `chains` the last good value."""

    provider: str
    chains: frozenset[int]
    fetch: Callable[[], frozenset[int]] | None = None


def _in_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="chain-lists", daemon=True).start()


class ChainRegistry:
    def __init__(self, lists: Sequence[ChainList], *, clock: Callable[[], float] = time.monotonic,
                 spawn: Callable[[Callable[[], None]], None] = _in_thread):
        self._lists, self._clock, self._spawn = list(lists), clock, spawn
        self._accepted = self._union()
        self._due = -math.inf if any(chain_list.fetch for chain_list in lists) else math.inf
        self._refreshing = False
        self._lock = threading.Lock()

    def __contains__(self, chain_id: object) -> bool:
        if self._clock() >= self._due:
            self._refresh_soon()
        return chain_id in self._accepted

    def _refresh_soon(self) -> None:
        with self._lock:
            if self._refreshing or self._clock() < self._due:
                return
            self._refreshing = True
        self._spawn(self.refresh)

    def refresh(self) -> None:
        """Fetch the lists now, on this thread: a process about to serve, so that no request starts it."""
        failed = False
        try:
            for chain_list in self._lists:
                if chain_list.fetch is None:
                    continue
                try:
                    chain_list.chains = chain_list.fetch()
                except Exception as exc:  # noqa: BLE001 - whatever failed, the last good list stays
                    failed = True
                    log.warning("cannot fetch the chains %s serves (%s); %d known chains kept", chain_list.provider,
                                type(exc).__name__, len(chain_list.chains))
            self._accepted = self._union()
        finally:
            self._due = self._clock() + (RETRY_S if failed else REFRESH_S)
            self._refreshing = False

    def _union(self) -> frozenset[int]:
        return frozenset().union(*(chain_list.chains for chain_list in self._lists))


def etherscan_chains(api_url: str) -> frozenset[int]:
    """The chain ids of Etherscan's `/v2/chainlist`, beside its `/v2/api`: {"result": [{"chainid": "1", …}]}."""
    document = _fetch_json(str(httpx.URL(api_url).join("chainlist")))
    result = document.get("result") if isinstance(document, dict) else None
    if not isinstance(result, list):
        raise ValueError("the chain list has no result list")
    return _chain_ids(entry.get("chainid") for entry in result if isinstance(entry, dict))


def sourcify_chains(api_url: str) -> frozenset[int]:
    """The chain ids Sourcify's `/chains` marks supported: [{"chainId": 1, "supported": true, …}]."""
    document = _fetch_json(f"{api_url.rstrip('/')}/chains")
    if not isinstance(document, list):
        raise ValueError("the chain list is not a list")
    return _chain_ids(entry.get("chainId") for entry in document
                      if isinstance(entry, dict) and entry.get("supported", True) is True)


def _chain_ids(values: Iterable[object]) -> frozenset[int]:
    ids = frozenset(int(value) for value in values if str(value).isdigit() and int(value) > 0)
    if not ids:
        raise ValueError("the chain list names no chain")
    return ids


def _fetch_json(url: str) -> object:
    with httpx.stream("GET", url, timeout=FETCH_TIMEOUT_S) as response:
        response.raise_for_status()
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_LIST_BYTES:
                raise ValueError("the chain list is too large")
    return decode(bytes(body))

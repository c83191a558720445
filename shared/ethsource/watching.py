"""Status long-polls: a caller waits until its contract changes, and all waiters share one lookup per interval."""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable

from .models import TERMINAL, Contract
from .store import Key

POLL_INTERVAL_S = 0.25
MAX_WAIT_S = 25.0
LOOKUP_CHUNK = 500


def etag(contract: Contract) -> str:
    """A strong validator of the resource: every write to a contract moves its updated_at."""
    state = f"{contract.status}|{contract.attempts}|{contract.updated_at.isoformat()}".encode()
    return '"' + hashlib.blake2b(state, digest_size=8).hexdigest() + '"'


def cache_control(contract: Contract) -> str:
    """Caches may keep a settled answer a while (only a refresh or a resubmission changes it); a pending one
    they must check again each time."""
    return "public, max-age=60" if contract.status in TERMINAL else "no-cache"


class Watcher:
    """Waiters for changes of contracts; one lookup of every watched contract per POLL_INTERVAL_S."""

    def __init__(self, lookup: Callable[[list[Key]], Awaitable[dict[Key, Contract]]], *, max_waiters: int = 20_000,
                 interval_s: float = POLL_INTERVAL_S):
        self._lookup, self.max_waiters, self._interval_s = lookup, max_waiters, interval_s
        self._waiters: dict[Key, list[tuple[str, asyncio.Future]]] = defaultdict(list)
        self._count = 0
        self._poller: asyncio.Task | None = None

    @property
    def full(self) -> bool:
        return self._count >= self.max_waiters

    async def changed(self, key: Key, seen: str, timeout_s: float) -> Contract | None:
        """The contract once its ETag differs from `seen`, or None if it did not change within `timeout_s`."""
        future = asyncio.get_running_loop().create_future()
        waiters = self._waiters[key]
        waiters.append((seen, future))
        self._count += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return None
        finally:
            self._count -= 1
            waiters.remove((seen, future))
            if not waiters:
                del self._waiters[key]

    async def _poll(self) -> None:
        while self._waiters:
            await asyncio.sleep(self._interval_s)
            keys = list(self._waiters)
            for start in range(0, len(keys), LOOKUP_CHUNK):
                try:
                    found = await self._lookup(keys[start:start + LOOKUP_CHUNK])
                except Exception:  # the database is away: the waiters wait on, and time out as unchanged
                    continue
                for key, contract in found.items():
                    tag = etag(contract)
                    for seen, future in self._waiters.get(key, ()):
                        if tag != seen and not future.done():
                            future.set_result(contract)

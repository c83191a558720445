"""The scanner's claims against an in-memory store: a claim waits for a share of the room, so contracts are claimed
many to a transaction rather than one by one as each scan ends."""

from __future__ import annotations

import asyncio
import random

from ethsource.models import ScanItem
from ethsource.queue import Topology
from ethsource.scanning import CLAIM_SHARE, RetryPolicy, Scanner, ScanOutcome
from ethsource.sources import SourceError
from ethsource.store import Claimed, Claims

CONCURRENCY = 32


class MemoryStore:
    """Every contract claimable; the claims' sizes kept, the settled ids counted."""

    def __init__(self) -> None:
        self.claim_sizes: list[int] = []
        self.settled: list[int] = []

    def claim(self, keys, lease_s, claim) -> Claims:
        self.claim_sizes.append(len(keys))
        return Claims({key: Claimed(key[0] * 1000 + int(key[1][-3:], 16), 1) for key in keys}, {})

    def settle(self, settlements, publish=None) -> set[int]:
        ids = {i for settlement in settlements for i in settlement.errors}
        self.settled.extend(ids)
        return ids


class OpenBudget:
    """A budget that never holds a call back."""

    calls_per_second = 1000.0
    demand = 0

    async def ready(self, timeout: float) -> bool:
        return True

    async def wait_for_few_callers(self, limit: int) -> None:
        return None


class Publisher:
    def publish(self, outgoing) -> None:
        raise AssertionError("nothing is retried or deferred here")


async def run_here(function, *args):
    return function(*args)


async def unverified(chain_id: int, address: str, provider: str | None):
    await asyncio.sleep(random.uniform(0.001, 0.02))  # scans end one by one, in no order
    raise SourceError("not_verified", "not verified")


def test_claims_after_the_first_wait_for_a_share_of_the_room():
    store = MemoryStore()
    items = [{"chain_id": 1, "address": f"0x{n:040x}"} for n in range(200)]

    async def scan():
        scanner = Scanner(store=store, publisher=Publisher(), topology=Topology("q"), fetch=unverified,
                          budget=OpenBudget(), policy=RetryPolicy(3, 1.0), lease_s=60, call_timeout_s=5,
                          concurrency=CONCURRENCY, run_blocking=run_here)
        return await scanner.scan([ScanItem(**item) for item in items])

    report = asyncio.run(scan())

    assert report == {ScanOutcome.ERROR: 200} and len(store.settled) == 200
    first, *later = store.claim_sizes
    assert first == CONCURRENCY
    assert all(size >= CONCURRENCY // CLAIM_SHARE for size in later[:-1])
    assert sum(store.claim_sizes) == 200

"""The scanner's state machine against an in-memory store and publisher: how contracts are claimed, and what
becomes of a passing fault, a final one and a contract another scan holds."""

from __future__ import annotations

import asyncio
import random

from ethsource.batching import run_on_loop
from ethsource.models import ScanItem
from ethsource.queue import Topology
from ethsource.scanning import CLAIM_SHARE, RetryPolicy, Scanner, ScanOutcome
from ethsource.sources import ProviderError, SourceError
from ethsource.store import Claimed, Claims
from tests.unit.memory import Published

CONCURRENCY = 32
TOPOLOGY = Topology("q")


class MemoryStore:
    """Claims every contract (at `attempts`) but those another scan holds (`busy`: seconds left of its lease) and
    those it does not know; keeps the claims' sizes and the settlements."""

    def __init__(self, attempts: int = 1, busy: dict | None = None, unknown: frozenset = frozenset()):
        self.attempts, self.busy, self.unknown = attempts, busy or {}, unknown
        self.claim_sizes: list[int] = []
        self.settlements: list = []

    def claim(self, keys, lease_s, claim) -> Claims:
        self.claim_sizes.append(len(keys))
        free = [key for key in keys if key not in self.busy and key not in self.unknown]
        return Claims({key: Claimed(contract_id(key), self.attempts) for key in free},
                      {key: left for key, left in self.busy.items() if key in keys})

    def settle(self, settlements, publish=None) -> set[int]:
        self.settlements.extend(settlements)
        if publish is not None:
            publish()
        return {i for s in settlements for i in (*s.sources, *s.errors, *s.retries)}


class OpenBudget:
    """A budget that never holds a call back."""

    calls_per_second = 1000.0
    demand = 0

    async def ready(self, timeout: float) -> bool:
        return True

    async def wait_for_few_callers(self, limit: int) -> None:
        return None


def contract_id(key) -> int:
    return int(key[1], 16) % 1_000_000


def items(count: int) -> list[ScanItem]:
    return [ScanItem(chain_id=1, address=f"0x{n:040x}") for n in range(1, count + 1)]


def scan(store, fetch, contracts, publisher=None):
    async def run():
        scanner = Scanner(store=store, publisher=publisher or Published(), topology=TOPOLOGY, fetch=fetch,
                          budget=OpenBudget(), policy=RetryPolicy(3, 1.0), lease_s=60, call_timeout_s=5,
                          concurrency=CONCURRENCY, run_blocking=run_on_loop, rng=lambda: 0.0)
        return await scanner.scan(contracts)

    return asyncio.run(run())


async def unverified(chain_id: int, address: str, provider: str | None):
    await asyncio.sleep(random.uniform(0.001, 0.02))  # scans end one by one, in no order
    raise SourceError("not_verified", "not verified")


async def rate_limited(chain_id: int, address: str, provider: str | None):
    error = ProviderError("sourcify", "sourcify_rate_limited", "Sourcify said 429", transient=True)
    error.resume_at = "sourcify"  # as the provider chain sets it: Etherscan had no source, Sourcify failed
    raise error


def test_claims_after_the_first_wait_for_a_share_of_the_room():
    store = MemoryStore()

    report = scan(store, unverified, items(200))

    assert report == {ScanOutcome.ERROR: 200}
    assert sorted(i for s in store.settlements for i in s.errors) == sorted(contract_id(i.key) for i in items(200))
    first, *later = store.claim_sizes
    assert first == CONCURRENCY
    assert all(size >= CONCURRENCY // CLAIM_SHARE for size in later[:-1])
    assert sum(store.claim_sizes) == 200


def test_a_passing_fault_goes_back_to_created_and_to_its_delay_queue_naming_where_to_resume():
    store, publisher = MemoryStore(attempts=1), Published()

    report = scan(store, rate_limited, items(3), publisher)

    assert report == {ScanOutcome.RETRY: 3}
    assert sorted(i for s in store.settlements for i in s.retries) == sorted(contract_id(i.key) for i in items(3))
    [outgoing] = publisher.outgoing
    assert outgoing.queue == TOPOLOGY.retry_queue(1) and outgoing.delay_s == 0.5  # half of 1 s, unjittered
    assert [item.provider for item in outgoing.items] == ["sourcify"] * 3


def test_a_passing_fault_on_the_last_attempt_is_recorded_as_the_provider_unavailable():
    store, publisher = MemoryStore(attempts=3), Published()

    report = scan(store, rate_limited, items(1), publisher)

    assert report == {ScanOutcome.ERROR: 1} and publisher.outgoing == []
    [settlement] = store.settlements
    assert list(settlement.errors.values()) == [("sourcify_unavailable", "Sourcify said 429")]


def test_a_contract_another_scan_holds_waits_for_its_lease_and_an_unknown_one_is_skipped():
    held, unknown, free = items(3)
    store, publisher = MemoryStore(busy={held.key: 7.5}, unknown=frozenset({unknown.key})), Published()

    report = scan(store, unverified, [held, unknown, free], publisher)

    assert report == {ScanOutcome.DEFERRED: 1, ScanOutcome.SKIPPED: 1, ScanOutcome.ERROR: 1}
    [outgoing] = publisher.outgoing
    assert outgoing.queue == TOPOLOGY.recheck_queue and outgoing.delay_s == 8.5 and outgoing.items == [held]

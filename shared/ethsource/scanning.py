"""The scan use case: claim contracts, fetch their sources within the shared budget, write the outcomes.

Everything a scan needs comes in explicitly (store, publisher, source fetcher, budget, retry policy, clock,
randomness and where blocking calls run), so the state machine runs in unit tests against in-memory fakes as
well as against MariaDB and RabbitMQ. What it promises:

- A contract is claimed (PROCESS, for SCAN_LEASE) before its source is asked for. A copy of its message that
  finds it held waits in the recheck queue until the lease ends; one that finds it settled is skipped, so
  settling again is harmless.
- Contracts are claimed only as fast as the budget lets their calls leave, so PROCESS means being scanned.
- Outcomes are committed before `scan` returns, and the caller acks the message only then.
- A passing fault puts the contract back to CREATED with a message in the delay queue of that attempt, in the
  same transaction, naming the provider the retry resumes at; after the last attempt it ends ERROR with the last
  reason.
- Concurrent scans share their claims and their writes: one transaction each for many contracts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from . import sources
from .addresses import address_or_none
from .batching import MicroBatcher
from .budget import Budget
from .metrics import SCAN_DURATION, SCAN_RETRIES, SCANS
from .models import ScanItem
from .observability import REQUEST_ID, batch_span, consume_span
from .queue import Outgoing, Publisher, Topology
from .sources import ContractSource, ProviderError, SourceError
from .store import Claimed, Claims, ContractStore, Settlement, StoredSource

log = logging.getLogger(__name__)

CLAIM_AHEAD_S = 0.5  # claim what the budget can send within this long
# A claim waits until this share of the room is free (or its whole message fits): claimed as each scan ended,
# contracts came a few to a claim, and a transaction costs about the same whatever its size (docs/performance.md).
CLAIM_SHARE = 8
DEFER_S = 2.0  # a scan that cannot start now (no budget before a deadline) comes back after this long
# What a write of outcomes waits for more to join it: a write costs a transaction whatever its size, and a longer
# wait holds each scan's room longer (measured in docs/performance.md). The whole wait, not leaving once arrivals
# pause as the API's batches do: a claim's outcomes end in bursts spread over the explorers' latency.
WRITE_GATHER_S = 0.050


class ScanOutcome(StrEnum):
    SUCCESS = "success"
    ERROR = "error"  # recorded as ERROR with a code
    RETRY = "retry"  # a passing fault: back in the queue after a delay
    SKIPPED = "skipped"  # nothing to do: an unknown contract, or one already settled (a redelivery)
    DEFERRED = "deferred"  # held by another scan, or no budget before the deadline: it comes back later
    POISON = "poison"


@dataclass(frozen=True)
class RetryPolicy:
    """A passing fault is tried again until `max_attempts` calls were made, the n-th retry after
    base × 2^(n-1) seconds, half of it jittered so the retries of a burst of faults spread out."""

    max_attempts: int
    base_delay_s: float

    @property
    def retries(self) -> int:
        return self.max_attempts - 1

    def allows_another(self, attempts: int) -> bool:
        return attempts < self.max_attempts

    def delay_s(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        delay = self.base_delay_s * 2 ** (retry - 1)
        return delay / 2 + rng() * delay / 2


@dataclass(frozen=True)
class _Outcome:
    claim: bytes
    claimed: Claimed
    item: ScanItem
    kind: ScanOutcome
    source: ContractSource | None = None
    error: tuple[str, str] | None = None  # (code, message)


class Scanner:
    """Scans with `fetch(chain_id, address, resume_at)` (a ProviderChain's), its claims paced on `budget`."""

    def __init__(self, *, store: ContractStore, publisher: Publisher, topology: Topology,
                 fetch: Callable[[int, str, str | None], Awaitable[ContractSource]], budget: Budget,
                 policy: RetryPolicy, lease_s: float, call_timeout_s: float, concurrency: int,
                 run_blocking: Callable[..., Awaitable],
                 clock: Callable[[], float] = time.monotonic, rng: Callable[[], float] = random.random):
        self._store, self._publisher, self._topology, self._fetch = store, publisher, topology, fetch
        self._budget, self._policy, self._lease_s, self._call_timeout_s = budget, policy, lease_s, call_timeout_s
        self._run_blocking, self._clock, self._rng = run_blocking, clock, rng
        self._concurrency, self._in_flight = concurrency, 0
        self._claim_at_least = max(1, concurrency // CLAIM_SHARE)
        self._room = asyncio.Condition()
        self._claims = MicroBatcher(self._claim_many, run_blocking)
        self._writes = MicroBatcher(self._write_many, run_blocking, gather_s=WRITE_GATHER_S, leave_when_quiet=False)

    @property
    def calls_per_second(self) -> float:
        """What the budget this process holds now lets it send."""
        return self._budget.calls_per_second

    async def scan(self, items: Sequence[ScanItem], *, deadline: float | None = None) -> Counter[ScanOutcome]:
        """Settle every contract of a message: an outcome written, a skip, or a deferral; raises when the
        outcomes could not be written (the message is then to be delivered again).

        With a `deadline` (a Lambda invocation, a pushed request), what cannot start before it, or finds no
        budget given to this process, is deferred at once rather than waited for.
        """
        waiting = list({item.key: item for item in reversed(items)}.values())[::-1]  # one scan per contract
        report: Counter[ScanOutcome] = Counter()
        tasks: list[asyncio.Task] = []
        self._budget.demand += len(waiting)
        try:
            while waiting:
                if deadline is not None and not await self._may_start(deadline):
                    break
                await self._wait_for_room(min(len(waiting), self._claim_at_least))
                size = max(1, min(len(waiting), int(self._budget.calls_per_second * CLAIM_AHEAD_S),
                                  self._concurrency - self._in_flight))
                chunk, waiting = waiting[:size], waiting[size:]
                self._budget.demand -= len(chunk)
                self._in_flight += len(chunk)  # taken now, so no other scan claims past the limit meanwhile
                try:
                    claim, claims = await self._claims(chunk)
                except BaseException:
                    await self._release(len(chunk))
                    raise
                report.update(await self._start(chunk, claim, claims, tasks))
            if waiting:
                await self._defer(waiting, DEFER_S)
                report[ScanOutcome.DEFERRED] += len(waiting)
            report.update(await asyncio.gather(*tasks))
        finally:
            self._budget.demand -= len(waiting)
            for task in tasks:
                task.cancel()
        for outcome, count in report.items():
            SCANS.labels(outcome).inc(count)
        return report

    async def _may_start(self, deadline: float) -> bool:
        left = deadline - self._clock()
        return left > self._call_timeout_s and await self._budget.ready(timeout=min(1.0, left - self._call_timeout_s))

    async def _wait_for_room(self, scans: int) -> None:
        """Until room for `scans` more is free here and the budget's callers are served soon."""
        async with self._room:
            await self._room.wait_for(lambda: self._in_flight + scans <= self._concurrency)
        await self._budget.wait_for_few_callers(max(1, int(self._budget.calls_per_second * CLAIM_AHEAD_S)))

    async def _start(self, chunk: list[ScanItem], claim: bytes, claims: Claims,
                     tasks: list[asyncio.Task]) -> Counter[ScanOutcome]:
        report: Counter[ScanOutcome] = Counter()
        busy = []
        for item in chunk:
            if claimed := claims.claimed.get(item.key):
                tasks.append(asyncio.create_task(self._scan_claimed(item, claim, claimed)))
            elif item.key in claims.busy:
                busy.append(item)
            else:
                report[ScanOutcome.SKIPPED] += 1
                log.info("nothing to scan", extra=_where(item))
        await self._release(len(chunk) - len(claims.claimed))
        if busy:
            # Another copy of the message is being scanned, or its scanner died: look again after the lease; by
            # then the contract is settled (this copy is skipped) or free to take.
            await self._defer(busy, max(claims.busy[item.key] for item in busy) + 1)
            report[ScanOutcome.DEFERRED] += len(busy)
        return report

    async def _scan_claimed(self, item: ScanItem, claim: bytes, claimed: Claimed) -> ScanOutcome:
        token = REQUEST_ID.set(item.request_id)
        started = self._clock()
        try:
            with consume_span(f"{self._topology.queue} process", item.traceparent, **{
                    "ethsource.chain_id": item.chain_id, "ethsource.address": item.address}) as span:
                outcome = await self._fetch_outcome(item, claim, claimed)
                span.set_attribute("ethsource.outcome", outcome.kind)
                await self._writes(outcome)
                _log_outcome(outcome)
            SCAN_DURATION.observe(self._clock() - started)
            return outcome.kind
        finally:
            REQUEST_ID.reset(token)
            await self._release(1)

    async def _release(self, count: int) -> None:
        """Room for `count` more scans here."""
        if count:
            self._in_flight -= count
            async with self._room:
                self._room.notify_all()

    async def _fetch_outcome(self, item: ScanItem, claim: bytes, claimed: Claimed) -> _Outcome:
        try:
            source = await self._fetch(item.chain_id, item.address, item.provider)
        except ProviderError as exc:
            if exc.transient and self._policy.allows_another(claimed.attempts):
                retry = item.model_copy(update={"provider": exc.resume_at}) if exc.resume_at else item
                return _Outcome(claim, claimed, retry, ScanOutcome.RETRY, error=(exc.code, exc.message))
            code = f"{exc.provider}_unavailable" if exc.transient else exc.code
            return _Outcome(claim, claimed, item, ScanOutcome.ERROR, error=(code, exc.message))
        except SourceError as exc:
            return _Outcome(claim, claimed, item, ScanOutcome.ERROR, error=(exc.code, exc.message))
        return _Outcome(claim, claimed, item, ScanOutcome.SUCCESS, source=source)

    def _claim_many(self, chunks: list[list[ScanItem]]) -> list[tuple[bytes, Claims]]:
        """Runs on the blocking thread: one claim for the chunks of every scan waiting now."""
        claim = os.urandom(16)
        with batch_span("scan claim", [item.traceparent for chunk in chunks for item in chunk]):
            claims = self._store.claim([item.key for chunk in chunks for item in chunk], self._lease_s, claim)
        return [(claim, Claims({i.key: claims.claimed[i.key] for i in chunk if i.key in claims.claimed},
                               {i.key: claims.busy[i.key] for i in chunk if i.key in claims.busy})) for chunk in chunks]

    def _write_many(self, outcomes: list[_Outcome]) -> list[None]:
        """Runs on the blocking thread: the outcomes of every scan finished now, in one transaction; the sources
        are compressed here, off the event loop that paces the calls."""
        settlements: dict[bytes, Settlement] = {}
        retries: dict[int, list[ScanItem]] = defaultdict(list)
        for outcome in outcomes:
            settlement = settlements.setdefault(outcome.claim, Settlement(outcome.claim))
            contract_id = outcome.claimed.id
            if outcome.kind is ScanOutcome.SUCCESS:
                settlement.sources[contract_id] = _stored(outcome.source)
            elif outcome.kind is ScanOutcome.ERROR:
                settlement.errors[contract_id] = outcome.error
            else:
                settlement.retries.append(contract_id)
                retries[outcome.claimed.attempts].append(outcome.item)
                SCAN_RETRIES.labels(outcome.error[0]).inc()
        outgoing = [Outgoing(items, self._topology.retry_queue(retry), self._policy.delay_s(retry, self._rng))
                    for retry, items in retries.items()]
        with batch_span("scan write", [outcome.item.traceparent for outcome in outcomes]):
            self._store.settle(list(settlements.values()),
                               publish=(lambda: self._publisher.publish(outgoing)) if outgoing else None)
        return [None] * len(outcomes)

    async def _defer(self, items: list[ScanItem], delay_s: float) -> None:
        await self._run_blocking(self._publisher.publish, [Outgoing(items, self._topology.recheck_queue, delay_s)])
        for item in items:
            log.info("scan deferred", extra={**_where(item), "delay_s": round(delay_s, 1)})


def _stored(source: ContractSource) -> StoredSource:
    return StoredSource(
        payload=sources.compress(source), contract_name=source.contract_name,
        compiler_version=source.compiler_version, language=source.language, proxy=source.proxy,
        implementation=address_or_none(source.implementation_address), provider=source.provider,
        match=source.metadata.get("match"))


def _where(item: ScanItem) -> dict:
    """What a line about one contract names: the contract, and the request that queued it (or the sweep)."""
    return {"chain_id": item.chain_id, "address": item.address, "request_id": item.request_id}


def _log_outcome(outcome: _Outcome) -> None:
    where = _where(outcome.item)
    if outcome.kind is ScanOutcome.SUCCESS:
        log.info("scan succeeded", extra={**where, "provider": outcome.source.provider})
    elif outcome.kind is ScanOutcome.ERROR:
        log.info("scan failed", extra={**where, "error_code": outcome.error[0], "reason": outcome.error[1]})
    else:
        log.info("scan will be retried", extra={**where, "attempt": outcome.claimed.attempts,
                                                "reason": outcome.error[1]})

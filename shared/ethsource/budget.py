"""The rate budget every scanner instance shares: each API key is leased to one scanner process at a time.

Why leases and not a shared counter of calls: what the explorer counts is arrivals, and only the process that
makes the calls knows when they really leave. So a key belongs to one process for a second at a time (renewed
while it has work), and that process hands out turns on the key an interval apart; a call that cannot leave
within LATE_S of its turn gives it up. So no key makes more than its rate in any one-second window, sliding or
aligned, however many instances run. When a key changes hands, the new holder waits one interval after the
moment the old holder could last have called.

The leases live in MySQL (`rate_budget_keys`), which every instance already reaches; times there are on the
database's clock. An instance that cannot renew its leases stops calling when they run out, and a crashed one
blocks its keys for at most a lease (one second) and an interval.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .db import Database
from .metrics import (
    BUDGET_CALLS,
    BUDGET_CAPACITY,
    BUDGET_HEALTHY,
    BUDGET_KEYS_HELD,
    BUDGET_LATE_TURNS,
    BUDGET_REFUSALS,
    BUDGET_WAIT_SECONDS,
    BUDGET_WAITS,
    labelled,
)

log = logging.getLogger(__name__)

# Calls leave a little slower than the plan allows: between a call's departure and its arrival, a busy event
# loop (a first connection, a large answer being parsed) or the network can hold one call back while the next
# goes straight through. The slack is (1 / SAFETY_MARGIN - 1) s = 20 ms in any second: WAKE_SLACK_S of it for a
# turn handed out or taken late, the rest for the way to the explorer. It was 5 % while the tests' fake explorer
# stamped calls in the busy test process (late by more than the slack now and then); with the fake in a process of
# its own, 2 % put no call over budget in the fleet benchmark, busy machine included (docs/performance.md).
SAFETY_MARGIN = 0.98
LATE_S = 0.02  # a call that would leave later than this after its turn gives the turn back
WAKE_SLACK_S = 0.005  # a turn given or taken up to this late does not delay the key's next one
LEASE_S = 1.0
RENEW_EVERY_S = 0.25
# Keys are kept this long after the last call for calls to come, then given back: a fleet's instances that hold
# the last messages wait for them (kept a whole lease, the tail of a fleet's run left keys idle for a second).
LINGER_S = RENEW_EVERY_S
# Keys enough to send the calls in hand within this long: more arrive meanwhile (a scanner holds about two seconds
# of calls, at most twice SCAN_CONCURRENCY; within a whole second, one process held 8 of 10 keys at 30 calls/s).
SEND_WITHIN_S = 0.5
NO_KEY = ""  # the "key" of a budget without keys (Etherscan's keyless calls, Sourcify)


def key_id(budget: str, key: str) -> str:
    """How a key is named in the database and in metrics: a hash, never the key itself."""
    return hashlib.sha256(f"{budget}\0{key}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Lease:
    key_id: str
    until_us: int  # the holder may call before this time (database clock, µs)
    free_from_us: int  # and not before this one


class LeaseStore:
    """The leases in MySQL: taking, renewing and giving back keys, each in one short transaction."""

    def __init__(self, database: Database):
        self.database = database

    def acquire(self, budget: str, holder: bytes, key_ids: list[str], keep: list[str], more: int,
                give_back: list[str], lease_us: int, gap_us: int) -> tuple[int, list[Lease]]:
        """Renew this holder's leases of `keep`, take up to `more` free keys (earliest free first) and give back
        `give_back`; returns the database's time and the leases held now."""
        return self.database.transact(lambda cursor: self._acquire(cursor, budget, holder, key_ids, keep, more,
                                                                   give_back, lease_us, gap_us))

    def _acquire(self, cursor, budget: str, holder: bytes, key_ids: list[str], keep: list[str], more: int,
                 give_back: list[str], lease_us: int, gap_us: int) -> tuple[int, list[Lease]]:
        rows = self._locked(cursor, budget, key_ids)
        if len(rows) < len(key_ids):
            # Keys never leased yet get their rows first. Only then: an INSERT IGNORE takes a shared lock on
            # each row already there, and two holders upgrading theirs to the SELECT's exclusive one deadlock.
            cursor.execute("INSERT IGNORE INTO rate_budget_keys (budget, key_id) VALUES "
                           + ", ".join(["(%s, %s)"] * len(key_ids)), [v for k in key_ids for v in (budget, k)])
            rows = self._locked(cursor, budget, key_ids)
        now = _database_now(cursor)  # after the locks are ours
        if give_back:
            self._release(cursor, budget, holder, give_back, now + gap_us)
        kept = [row for row in rows if row[0] in keep and row[1] == holder and row[2] > now]
        free = sorted((row for row in rows if row[0] not in give_back and row not in kept
                       and (row[1] is None or row[2] <= now)), key=lambda row: row[3])
        held = []
        for key, owner, until, free_from in kept + free[:more]:
            if owner is not None and until <= now:  # a lapsed lease: its holder may have called until its end
                free_from = max(free_from, until + gap_us)
            held.append(Lease(key, now + lease_us, free_from))
        for lease in held:
            cursor.execute("UPDATE rate_budget_keys SET holder = %s, lease_until = %s, free_from = %s"
                           " WHERE budget = %s AND key_id = %s",
                           (holder, lease.until_us, lease.free_from_us, budget, lease.key_id))
        return now, held

    @staticmethod
    def _locked(cursor, budget: str, key_ids: list[str]) -> tuple[tuple, ...]:
        cursor.execute(f"SELECT key_id, holder, lease_until, free_from FROM rate_budget_keys WHERE budget = %s"
                       f" AND key_id IN ({', '.join(['%s'] * len(key_ids))}) ORDER BY key_id FOR UPDATE",
                       [budget, *key_ids])
        return cursor.fetchall()

    def release(self, budget: str, holder: bytes, key_ids: list[str], gap_us: int) -> None:
        if not key_ids:
            return
        with self.database.transaction() as cursor:
            self._release(cursor, budget, holder, key_ids, _database_now(cursor) + gap_us)

    @staticmethod
    def _release(cursor, budget: str, holder: bytes, key_ids: list[str], free_from_us: int) -> None:
        # The holder has stopped calling on them: the next one may start an interval after now.
        cursor.execute(f"UPDATE rate_budget_keys SET holder = NULL, lease_until = 0,"
                       f" free_from = GREATEST(free_from, %s) WHERE budget = %s AND holder = %s"
                       f" AND key_id IN ({', '.join(['%s'] * len(key_ids))})",
                       [free_from_us, budget, holder, *key_ids])


def _database_now(cursor) -> int:
    cursor.execute("SELECT CAST(UNIX_TIMESTAMP(SYSDATE(6)) * 1000000 AS SIGNED)")
    return cursor.fetchone()[0]


@dataclass
class _Key:
    key: str
    id: str
    until: float = 0.0  # local monotonic time; conservative: a little before the database's
    next: float = 0.0  # the earliest next turn


class Budget:
    """One process's side of a shared budget: the keys it holds, renewed while calls wait, and their pacing.

    `await budget.take_turn()` waits for a key whose turn has come, and the caller sends its call at once;
    blocking work (the lease transactions) runs through `run_blocking`, e.g. on a database thread.
    """

    def __init__(self, name: str, keys: tuple[str, ...], rate: float, leases: LeaseStore,
                 run_blocking: Callable[..., Awaitable], *, clock: Callable[[], float] = time.monotonic,
                 holder: bytes | None = None):
        self.name, self.rate = name, rate
        self.interval = 1.0 / (rate * SAFETY_MARGIN)
        # Between a holder's last possible call on a key and the next holder's first: a call handed its turn just
        # before the key went may still leave up to LATE_S later.
        self._gap_us = int((self.interval + LATE_S) * 1e6)
        self._keys = {key_id(name, key): key for key in (keys or (NO_KEY,))}
        BUDGET_CAPACITY.labels(name).set(len(self._keys) / self.interval)
        self._leases, self._run_blocking, self._clock = leases, run_blocking, clock
        self._holder = holder or os.urandom(16)
        self._held: dict[str, _Key] = {}
        self._waiters: deque[asyncio.Future] = deque()
        self.demand = 0  # calls the process has in hand and has not made yet, to size its leases
        self._last_call = -math.inf
        self._turns_changed = asyncio.Event()  # a caller came, a turn was given back, the leases changed
        self._keys_wanted = asyncio.Event()  # a caller came while no key is held: ask at once
        self._leases_changed = asyncio.Condition()
        self._callers_served = asyncio.Condition()
        self._tasks: list[asyncio.Task] = []

    @property
    def calls_per_second(self) -> float:
        """What the keys held now allow."""
        return len(self._held) / self.interval

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._keep_leases(), name=f"{self.name}-leases"),
                       asyncio.create_task(self._hand_out_turns(), name=f"{self.name}-turns")]

    def stop(self) -> None:
        """Stop renewing and handing out turns (the leases run out by themselves)."""
        for task in self._tasks:
            task.cancel()

    async def close(self) -> None:
        self.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.release()

    async def release(self) -> None:
        """Give back the keys held now (e.g. at the end of a Lambda invocation), so others need not wait for the
        leases to run out."""
        held, self._held = list(self._held), {}
        BUDGET_KEYS_HELD.labels(self.name).set(0)
        try:
            await self._run_blocking(self._leases.release, self.name, self._holder, held, self._gap_us)
        except Exception:  # noqa: BLE001 - unreleased leases run out by themselves within a second
            log.warning("could not give back the %s budget's keys; they free up when their leases end", self.name)

    async def ready(self, timeout: float) -> bool:
        """Whether this process holds a key, waiting up to `timeout` for one (set `demand` first)."""
        self._keys_wanted.set()
        try:
            async with self._leases_changed:
                await asyncio.wait_for(self._leases_changed.wait_for(lambda: self._held), timeout)
        except TimeoutError:
            pass
        return bool(self._held)

    async def wait_for_few_callers(self, limit: int) -> None:
        """Until fewer than `limit` calls wait for their turn here (so a scanner claims only what leaves soon)."""
        async with self._callers_served:
            await self._callers_served.wait_for(lambda: len(self._waiters) < limit)

    async def take_turn(self) -> str:
        """Wait for a key's turn and return the key: the caller sends its call at once."""
        asked = self._clock()
        while True:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            self._turns_changed.set()
            if not self._held:
                self._keys_wanted.set()
            state, turn_at = await waiter
            departed = self._clock()
            if departed - turn_at <= LATE_S and departed < state.until:
                # The key's next turn counts from this call's departure less WAKE_SLACK_S: a call that left late
                # brings the next one closer by no more than that, in any run of calls, and the rest of the margin
                # stays for the way to the explorer.
                state.next = max(state.next, departed - WAKE_SLACK_S + self.interval)
                break
            BUDGET_LATE_TURNS.labels(self.name).inc()  # the process was too busy to send it in time: a turn lost
        labelled(BUDGET_CALLS, self.name, state.id).inc()
        if (waited := departed - asked) > 0.001:
            labelled(BUDGET_WAITS, self.name).inc()
            labelled(BUDGET_WAIT_SECONDS, self.name).inc(waited)
        self._last_call = departed
        return state.key

    async def _hand_out_turns(self) -> None:
        """Turns to the callers in order, on the key whose turn comes first, each key's an interval apart."""
        while True:
            self._turns_changed.clear()
            wake_at, served = None, False
            while self._waiters:
                if self._waiters[0].done():  # a caller that gave up
                    self._waiters.popleft()
                    continue
                now = self._clock()
                usable = [k for k in self._held.values() if k.next + LATE_S < k.until]
                if not usable:
                    break
                state = min(usable, key=lambda k: k.next)
                if state.next > now:
                    wake_at = state.next
                    break
                # From the turn, not from this wake-up, unless it is later than the slack: counted from the wake-ups
                # (and the departures), each call's latency was lost to its key: 28 calls a second at 30.
                state.next = max(state.next, now - WAKE_SLACK_S) + self.interval
                self._waiters.popleft().set_result((state, now))
                served = True
            if served:
                async with self._callers_served:
                    self._callers_served.notify_all()
            try:
                await asyncio.wait_for(self._turns_changed.wait(),
                                       None if wake_at is None else max(wake_at - self._clock(), 0))
            except TimeoutError:
                pass

    def _wanted(self) -> int:
        """Keys to hold: enough for the calls in hand within SEND_WITHIN_S; those held while calls keep coming."""
        pending = self.demand + len(self._waiters)
        needed = math.ceil(pending * self.interval / SEND_WITHIN_S) if pending else 0
        if self._clock() - self._last_call < LINGER_S:
            needed = max(needed, len(self._held))
        return min(needed, len(self._keys))

    async def _keep_leases(self) -> None:
        while True:
            want = self._wanted()
            if want or self._held:
                await self._renew(want)
            # Held keys are renewed well before their lease ends; without keys, a waiting caller asks again soon.
            delay = RENEW_EVERY_S if self._held or not want else RENEW_EVERY_S / 2
            self._keys_wanted.clear()
            try:
                await asyncio.wait_for(self._keys_wanted.wait(), delay)
            except TimeoutError:
                pass

    async def _renew(self, want: int) -> None:
        # A key given back serves no more turns from now: none may leave once the database says it is free.
        keep = list(self._held)[:want]
        give_back = [key for key in self._held if key not in keep]
        for key in give_back:
            del self._held[key]
        asked = self._clock()
        try:
            now_us, leases = await self._run_blocking(
                self._leases.acquire, self.name, self._holder, list(self._keys), keep, want - len(keep), give_back,
                int(LEASE_S * 1e6), self._gap_us)
        except Exception as exc:  # noqa: BLE001 - whatever failed, no lease is certain any more
            BUDGET_HEALTHY.labels(self.name).set(0)
            log.warning("cannot reach the shared %s budget (%s); its calls wait", self.name,
                        getattr(exc, "message", type(exc).__name__))
            return  # the keys held stay usable until their (local) lease ends, no longer
        answered = self._clock()
        BUDGET_HEALTHY.labels(self.name).set(1)
        held = {}
        for lease in leases:
            state = self._held.get(lease.key_id) or _Key(self._keys[lease.key_id], lease.key_id)
            # The database's times on this clock, conservatively: the lease ends as if the database's "now" were
            # when the request left, and the key frees up as if it were when the answer came.
            state.until = asked + (lease.until_us - now_us) / 1e6
            state.next = max(state.next, answered + (lease.free_from_us - now_us) / 1e6)
            held[lease.key_id] = state
        if len(held) < want:
            BUDGET_REFUSALS.labels(self.name).inc(want - len(held))
        self._held = held
        BUDGET_KEYS_HELD.labels(self.name).set(len(held))
        self._turns_changed.set()
        async with self._leases_changed:
            self._leases_changed.notify_all()

"""One load-generating process: submits fresh addresses on a fixed schedule and polls each one to the end.

Open loop: the n-th submission leaves at its scheduled time whether or not earlier ones were answered;
one that leaves more than LATE_AFTER_S after its time is counted as late (the generator fell behind).
Each accepted contract is polled once a second until SUCCESS or ERROR, within a cap on the poll rate so
that a backlog of pending contracts cannot starve the submissions of the generator's CPU. Or, watching, each is
asked once and then long-polled (`?wait=`, If-None-Match its ETag) until it changes, a bounded number at a time.
With a chaos rate, it also calls the functions' chaos routes (`ethsource run --chaos`) while it submits.
"""

from __future__ import annotations

import asyncio
import heapq
import os
import random
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field

import orjson
import uvloop

from ethsource.addresses import to_checksum
from ethsource.http_client import Client, ConnectionFailed
from ethsource.serving import collect_less

LATE_AFTER_S = 0.010
TERMINAL = ("SUCCESS", "ERROR")
PROGRESS_EVERY_S = 1.0
CHAOS_FUNCTIONS = ("submit", "status", "download")
TRANSPORT_ERROR = 0  # the status code recorded for a request that got no HTTP answer
# A poll loop that woke late may catch up on this much of the cap's slots: its longest sleep. A whole second let
# the polls go at twice the cap in the second their first ones were due (the slots of the second before, when none
# was due, counted as missed).
POLL_CATCH_UP_S = 0.05


@dataclass(frozen=True)
class Plan:
    """One worker's share: submission k of this worker leaves at start_at + (k * workers + index) / rate."""

    index: int
    workers: int
    base_url: str
    rate: float  # total submissions/s of all workers
    duration: float
    start_at: float  # time.monotonic(), the same clock in every process
    drain_timeout: float
    max_poll_rate: float  # total polls/s of all workers
    poll_interval: float = 1.0
    chain_id: int = 1
    request_timeout: float = 10.0
    chaos_rate: float = 0.0  # total calls/s of all workers to the chaos routes
    watch: bool = False  # long-poll (?wait=) instead of polling once a second
    max_watches: int = 1000  # long-polls open at once, all workers together
    watch_wait_s: float = 25.0


def next_poll_slot(slot: float, gap: float, now: float) -> float:
    """The earliest time of the next poll after one sent now, in slot `slot`: the cap holds over any second."""
    return max(slot + gap, now - POLL_CATCH_UP_S)


@dataclass
class Requests:
    """One endpoint's requests: when each left (s after start), how long it took, its status code."""

    started: array = field(default_factory=lambda: array("d"))
    latency: array = field(default_factory=lambda: array("d"))
    status: array = field(default_factory=lambda: array("H"))
    lateness: array = field(default_factory=lambda: array("d"))
    errors: Counter = field(default_factory=Counter)

    def record(self, started: float, latency: float, status: int, lateness: float) -> None:
        self.started.append(started)
        self.latency.append(latency)
        self.status.append(status)
        self.lateness.append(lateness)


@dataclass
class Contracts:
    """The accepted contracts: when each was submitted and first seen terminal (NaN: never), last status."""

    addresses: list[str] = field(default_factory=list)
    submitted: array = field(default_factory=lambda: array("d"))
    terminal_at: array = field(default_factory=lambda: array("d"))
    last_status: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # submissions answered with an error (a 503 at overload)
    unanswered: list[str] = field(default_factory=list)  # no answer in time, or the connection failed


@dataclass
class Result:
    index: int
    submit: Requests
    status: Requests
    contracts: Contracts
    chaos: Requests
    watches: Requests  # the long-polls: their latency is the time waited


def fresh_address() -> str:
    return to_checksum("0x" + os.urandom(20).hex())


def error_kind(status: int, answer: dict) -> str:
    return f"HTTP {status}" if status else answer["error"]


class Worker:
    def __init__(self, plan: Plan, progress):
        self.plan, self.progress = plan, progress
        self.submit, self.status, self.contracts, self.chaos = Requests(), Requests(), Contracts(), Requests()
        self.watches = Requests()
        self.watch_slots = asyncio.Semaphore(max(1, plan.max_watches // plan.workers))
        self.due_polls: list[tuple[float, int]] = []  # (due time, contract number), a heap
        self.pending = 0  # accepted contracts not yet seen terminal
        self.submits_unsettled = 0  # scheduled submissions without an outcome yet
        self.late_submits = 0
        self.tasks: set[asyncio.Task] = set()
        self.client = Client(plan.base_url, limit=2048, timeout=plan.request_timeout)

    def since_start(self, moment: float) -> float:
        return moment - self.plan.start_at

    def spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> Result:
        reporter = asyncio.create_task(self.report_progress())
        await asyncio.gather(self.submit_on_schedule(), self.poll_until_drained(), self.call_chaos())
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=self.plan.request_timeout + 1)
        reporter.cancel()
        self.send_progress()
        self.client.close()
        return Result(self.plan.index, self.submit, self.status, self.contracts, self.chaos, self.watches)

    def schedule(self, rate: float) -> list[float]:
        """This worker's share of `rate` calls/s over the plan's duration: when each is due."""
        plan = self.plan
        first, interval = plan.start_at + plan.index / rate, plan.workers / rate
        return [first + k * interval for k in range(int(plan.duration * rate / plan.workers))]

    @staticmethod
    async def wait_until(due: float) -> None:
        delay = due - time.monotonic()
        if delay > 0.0005:
            await asyncio.sleep(delay)

    async def submit_on_schedule(self) -> None:
        schedule = self.schedule(self.plan.rate)
        self.submits_unsettled = len(schedule)
        for due in schedule:
            await self.wait_until(due)
            self.spawn(self.submit_one(due))

    async def submit_one(self, due: float) -> None:
        address = fresh_address()
        body = orjson.dumps({"address": address, "chain_id": self.plan.chain_id})
        started = time.monotonic()
        self.late_submits += started - due > LATE_AFTER_S
        status, answer = await self.request("POST", "/contracts", body=body,
                                            headers={"Content-Type": "application/json"})
        self.submit.record(self.since_start(started), time.monotonic() - started, status, started - due)
        if status in (200, 202):
            self.track(address, started, answer.get("status", "CREATED"))
        else:
            self.submit.errors[error_kind(status, answer)] += 1
            (self.contracts.unanswered if status == TRANSPORT_ERROR else self.contracts.refused).append(address)
        self.submits_unsettled -= 1

    async def call_chaos(self) -> None:
        """While submitting, a chaos route now and then: a random function's log lines, error or delay."""
        if self.plan.chaos_rate <= 0:
            return
        for due in self.schedule(self.plan.chaos_rate):
            await self.wait_until(due)
            route = random.choice(("log?count=5", "error", "delay?max_ms=2000"))
            self.spawn(self.chaos_one(f"/functions/{random.choice(CHAOS_FUNCTIONS)}/_chaos/{route}", due))

    async def chaos_one(self, path: str, due: float) -> None:
        started = time.monotonic()
        status, answer = await self.request("POST", path)
        self.chaos.record(self.since_start(started), time.monotonic() - started, status, started - due)
        if status != 200:
            self.chaos.errors[error_kind(status, answer)] += 1

    def track(self, address: str, submitted: float, status: str) -> None:
        contracts = self.contracts
        number = len(contracts.addresses)
        contracts.addresses.append(address)
        contracts.submitted.append(self.since_start(submitted))
        contracts.terminal_at.append(self.since_start(time.monotonic()) if status in TERMINAL else float("nan"))
        contracts.last_status.append(status)
        if status not in TERMINAL:
            self.pending += 1
            if self.plan.watch:
                self.spawn(self.watch_one(number))
            else:
                heapq.heappush(self.due_polls, (submitted + self.plan.poll_interval, number))

    async def poll_until_drained(self) -> None:
        plan = self.plan
        gap = plan.workers / plan.max_poll_rate
        give_up_at = plan.start_at + plan.duration + plan.drain_timeout
        next_slot = 0.0
        await asyncio.sleep(max(plan.start_at - time.monotonic(), 0))
        while True:
            now = time.monotonic()
            if (self.submits_unsettled == 0 and self.pending == 0) or now > give_up_at:
                return
            if not self.due_polls or self.due_polls[0][0] > now or next_slot > now:
                head = self.due_polls[0][0] if self.due_polls else now + 0.05
                # At least 1 ms: uvloop rounds a sleep to whole milliseconds and runs one under half of one at once,
                # so the loop spun between two slots of the cap (at 1 500 submissions and 3 000 polls/s: 2.6 times
                # the CPU).
                await asyncio.sleep(min(max(head, next_slot, now + 0.001) - now, 0.05))
                continue
            due, number = heapq.heappop(self.due_polls)
            next_slot = next_poll_slot(next_slot, gap, now)
            self.spawn(self.poll_one(number, due))

    async def poll_one(self, number: int, due: float) -> None:
        contracts = self.contracts
        address = contracts.addresses[number]
        started = time.monotonic()
        status, answer = await self.request("GET", f"/contracts/{address}?chain_id={self.plan.chain_id}")
        finished = time.monotonic()
        self.status.record(self.since_start(started), finished - started, status, started - due)
        if status == 200 and answer.get("status") in TERMINAL:
            contracts.last_status[number] = answer["status"]
            contracts.terminal_at[number] = self.since_start(finished)
            self.pending -= 1
            return
        if status == 200:
            contracts.last_status[number] = answer.get("status", contracts.last_status[number])
        else:
            self.status.errors[error_kind(status, answer)] += 1
        heapq.heappush(self.due_polls, (max(due + self.plan.poll_interval, finished), number))

    async def watch_one(self, number: int) -> None:
        """Ask once, then long-poll the contract until it is SUCCESS or ERROR (or the plan gives up)."""
        contracts, plan = self.contracts, self.plan
        address = contracts.addresses[number]
        give_up_at = plan.start_at + plan.duration + plan.drain_timeout
        path = f"/contracts/{address}?chain_id={plan.chain_id}"
        etag = None
        while time.monotonic() < give_up_at:
            async with self.watch_slots:
                started = time.monotonic()
                if etag is None:  # the first time, a plain status request
                    status, answer, headers = await self.request("GET", path, with_headers=True)
                    record = self.status
                else:
                    status, answer, headers = await self.request(
                        "GET", f"{path}&wait={plan.watch_wait_s:g}", headers={"If-None-Match": etag},
                        timeout=plan.watch_wait_s + plan.request_timeout, with_headers=True)
                    record = self.watches
                finished = time.monotonic()
            record.record(self.since_start(started), finished - started, status, 0.0)
            if status == 200:
                etag = headers.get("etag", etag)
                contracts.last_status[number] = answer.get("status", contracts.last_status[number])
                if answer.get("status") in TERMINAL:
                    contracts.terminal_at[number] = self.since_start(finished)
                    self.pending -= 1
                    return
            elif status != 304:
                record.errors[error_kind(status, answer)] += 1
                await asyncio.sleep(plan.poll_interval)  # a refusal or a failure: not again at once

    async def request(self, method: str, path: str, *, with_headers: bool = False, **kwargs):
        """(status code, JSON answer[, headers]); (TRANSPORT_ERROR, {"error": kind}) when no HTTP answer came."""
        try:
            status, headers, body = await self.client.request(method, path, **kwargs)
        except (ConnectionFailed, TimeoutError) as exc:
            failed = (TRANSPORT_ERROR, {"error": type(exc).__name__})
            return (*failed, {}) if with_headers else failed
        try:
            answer = orjson.loads(body) if body else {}
        except ValueError:
            answer = {}
        return (status, answer, headers) if with_headers else (status, answer)

    async def report_progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            self.send_progress()

    def send_progress(self) -> None:
        self.progress.put(("progress", self.plan.index, {
            "submitted": len(self.submit.started),
            "submit_errors": sum(self.submit.errors.values()),
            "late": self.late_submits,
            "polls": len(self.status.started),
            "pending": self.pending,
        }))


def work(plan: Plan, results) -> None:
    """The entry of a worker process: run the plan, send progress and then the Result on `results`."""
    collect_less()  # thousands of requests in flight: a quarter of a worker's CPU went to the collector
    worker = Worker(plan, results)
    results.put(("result", plan.index, uvloop.run(worker.run())))

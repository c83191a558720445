"""Micro-batching: concurrent callers share one database transaction (and, for submit, one broker commit)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

# What the API's batches wait for company (submit, status). The peak on 2 cores (1 000 submissions/s and as many
# polls, 30 s, three runs each): 0 ms 61 s of CPU in all, submit p99 73-98 ms, status p99 45-103 ms, 0-89 refused;
# 5 ms 54 s, 28-35 and 20-24 ms; 10 ms 49 s, 33-37 and 22-27 ms, none refused either way. Waiting the whole 10 ms
# halved what wrk's closed loop got from status (9 200-9 600 to 4 180 a second); leaving once arrivals pause, it
# gets 9 860-10 150, and the peak 49 s of CPU, 35 / 21 ms.
API_GATHER_S = 0.010
QUIET_GAPS = 3  # a gathering batch leaves when no item came for this many average gaps between arrivals
GAP_WEIGHT = 0.1  # of the newest gap in that average

Item = TypeVar("Item")
Result = TypeVar("Result")


async def run_on_loop(function: Callable, *args):
    """Runs a blocking call (pymysql, pika) on the event loop itself, which waits for it.

    What the API's batches use: a batch is a few round trips to the database and the broker, and the hand-off
    to a thread and back cost more than that. The thread and the event loop take turns at the GIL at every
    socket read, each turn a wake-up of the other, and a machine busy with the peak made each wake-up late:
    measured on 2 cores, wrk's closed loop got 4 000-4 500 submissions/s this way against 2 600-3 100 through
    a thread, status 6 200-8 400 against 5 000-7 100, and the peak cost less CPU (see docs/performance.md).
    The loop has little else to do meanwhile: a batch at a time is what the function answers, and what arrives
    waits in its socket until the batch is done. The cost: while the database or the broker stalls, the
    function answers nothing, not even its refusals (the gateway's admission still refuses at once). The
    scanner keeps its thread: its batches are large enough that the hand-off measured no different.
    """
    return function(*args)


def blocking_runner(name: str, threads: int = 1) -> Callable[..., Awaitable]:
    """Runs blocking calls (pymysql, pika) on threads of their own, off the event loop: for work long enough to
    hold up the loop's other requests (a download's decompressing and zipping)."""
    executor = ThreadPoolExecutor(threads, thread_name_prefix=name)

    async def run(function: Callable, *args):
        return await asyncio.get_running_loop().run_in_executor(executor, function, *args)

    return run


class MicroBatcher(Generic[Item, Result]):
    """Hands items to `process` in batches and gives each caller its own result (or exception).

    A batch leaves as soon as the previous one is done, so a lone request waits for nothing, and under load the
    items that arrive meanwhile form the next batch by themselves. One batch at a time: measured on 2 cores, submit
    answered about 930 requests/s this way, against 835 with two batches in flight and 670 with four (smaller
    batches cost more CPU per item, and the CPU, not the database or broker, is what runs out).

    With `gather_s`, a batch waits up to that long for company when company is likely (the last batch, or what
    waits now, is more than one item), as long as items keep coming at their usual pace: it leaves once none came
    for QUIET_GAPS of their average gap. A batch costs about a millisecond of CPU whatever its size, and items
    arriving one by one (the open loop of many callers) came one or two a batch; callers that each wait for their
    answer before the next request (a closed loop) arrive together and stop, and waiting longer would only slow
    them. A caller alone, as on Lambda (one request an invocation), never waits. Without `leave_when_quiet`, the
    batch waits the whole `gather_s` (items that come in bursts whatever their pace, with nobody waiting on each).
    """

    def __init__(self, process: Callable[[list[Item]], list[Result | Exception]],
                 run_blocking: Callable[..., Awaitable], *, max_size: int = 200, gather_s: float = 0.0,
                 leave_when_quiet: bool = True):
        self._process, self._run_blocking, self._max_size = process, run_blocking, max_size
        self._gather_s, self._leave_when_quiet = gather_s, leave_when_quiet
        self._pending: list[tuple[Item, asyncio.Future]] = []
        self._running = False
        self._last_size = 0
        self._last_arrival = 0.0
        self._gap = gather_s  # the average time between arrivals, each gap counted up to gather_s

    async def __call__(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        if self._gather_s and self._leave_when_quiet:  # the pace of arrivals, for telling a pause
            now = loop.time()
            self._gap += GAP_WEIGHT * (min(now - self._last_arrival, self._gather_s) - self._gap)
            self._last_arrival = now
        future = loop.create_future()
        self._pending.append((item, future))
        self._dispatch()
        return await future

    async def _gather(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._gather_s
        while len(self._pending) < self._max_size:
            leave_at = deadline
            if self._leave_when_quiet:
                leave_at = min(deadline, self._last_arrival + QUIET_GAPS * self._gap)
            if leave_at <= loop.time():
                return
            await asyncio.sleep(leave_at - loop.time())

    def _dispatch(self) -> None:
        if self._pending and not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            if self._gather_s and max(self._last_size, len(self._pending)) > 1:
                await self._gather()
            batch, self._pending = self._pending[:self._max_size], self._pending[self._max_size:]
            self._last_size = len(batch)
            try:
                results = await self._run_blocking(self._process, [item for item, _ in batch])
            except Exception as exc:  # the whole batch failed (e.g. the broker is down): every caller hears it
                results = [exc] * len(batch)
        finally:
            self._running = False
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller went away (client disconnected)
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._dispatch()

"""Micro-batching: concurrent callers share one database transaction (and, for submit, one broker commit)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def blocking_runner(name: str, threads: int = 1) -> Callable[..., Awaitable]:
    """Runs blocking calls (pymysql, pika) on threads of their own, off the event loop."""
    executor = ThreadPoolExecutor(threads, thread_name_prefix=name)

    async def run(function: Callable, *args):
        return await asyncio.get_running_loop().run_in_executor(executor, function, *args)

    return run


class MicroBatcher(Generic[Item, Result]):
    """Hands items to `process` in batches and gives each caller its own result (or exception).

    No timer: a batch leaves as soon as the previous one is done, so a lone request waits for nothing, and under
    load the items that arrive meanwhile form the next batch by themselves. One batch at a time: measured on 2
    cores, submit answered about 930 requests/s this way, against 835 with two batches in flight and 670 with four
    (smaller batches cost more CPU per item, and the CPU, not the database or broker, is what runs out).
    """

    def __init__(self, process: Callable[[list[Item]], list[Result | Exception]],
                 run_blocking: Callable[..., Awaitable], *, max_size: int = 200):
        self._process, self._run_blocking, self._max_size = process, run_blocking, max_size
        self._pending: list[tuple[Item, asyncio.Future]] = []
        self._running = False

    async def __call__(self, item: Item) -> Result:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        if self._pending and not self._running:
            batch, self._pending = self._pending[:self._max_size], self._pending[self._max_size:]
            self._running = True
            asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[Item, asyncio.Future]]) -> None:
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

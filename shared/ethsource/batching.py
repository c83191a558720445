"""Micro-batching: concurrent requests share one database transaction (and, for submit, one broker commit)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

Item = TypeVar("Item")
Result = TypeVar("Result")


class MicroBatcher(Generic[Item, Result]):
    """Hands items to `process` in batches and gives each caller its own result (or exception).

    No timer: a batch leaves as soon as one of `max_in_flight` slots is free, so a lone request waits for
    nothing, and under load the items that arrive while the slots are busy form the next batch by themselves.
    """

    def __init__(self, process: Callable[[list[Item]], list[Result | Exception]], *, max_size: int = 200,
                 max_in_flight: int = 2):
        self._process, self._max_size, self._max_in_flight = process, max_size, max_in_flight
        self._pending: list[tuple[Item, asyncio.Future]] = []
        self._in_flight = 0

    async def __call__(self, item: Item) -> Result:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        while self._pending and self._in_flight < self._max_in_flight:
            batch, self._pending = self._pending[:self._max_size], self._pending[self._max_size:]
            self._in_flight += 1
            asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[Item, asyncio.Future]]) -> None:
        try:
            results = await run_in_threadpool(self._process, [item for item, _ in batch])
        except Exception as exc:  # the whole batch failed (e.g. the broker is down): every caller hears it
            results = [exc] * len(batch)
        finally:
            self._in_flight -= 1
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller went away (client disconnected)
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._dispatch()

"""Async handlers on Lambda: one event loop per container, kept across invocations, and spans flushed before
each invocation returns (Lambda freezes the container as soon as it does, buffered spans with it)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable

from .observability import flush_traces

MARGIN_S = 5.0  # the part of an invocation's time kept for writing outcomes and answering
DEFAULT_TIME_S = 30.0  # without a Lambda context (a local invoke)

_loop: asyncio.AbstractEventLoop | None = None


def on_lambda(handler: Callable[[dict, float], Awaitable[dict]]) -> Callable[..., dict]:
    """A Lambda entry point `(event, context)` for `handler(event, deadline)`; the deadline is on
    time.monotonic(), MARGIN_S before the invocation's own."""

    @functools.wraps(handler)
    def invoke(event: dict, context=None) -> dict:
        global _loop
        remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else DEFAULT_TIME_S
        deadline = time.monotonic() + max(remaining - MARGIN_S, 1.0)
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
        try:
            return _loop.run_until_complete(handler(event, deadline))
        finally:
            flush_traces()

    return invoke

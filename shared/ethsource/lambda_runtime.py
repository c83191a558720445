"""Lambda entry points: each invocation's log lines carry its request id, and before it returns (Lambda freezes
the container as soon as it does) its buffered spans are sent and its metrics written as EMF lines; async
handlers get one event loop per container, kept across invocations."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable

from . import cloudwatch
from .config import get_settings
from .observability import REQUEST_ID, flush_traces

MARGIN_S = 5.0  # the part of an invocation's time kept for writing outcomes and answering
DEFAULT_TIME_S = 30.0  # without a Lambda context (a local invoke)

_loop: asyncio.AbstractEventLoop | None = None

LambdaHandler = Callable[..., dict]


def lambda_entry(function: str) -> Callable[[LambdaHandler], LambdaHandler]:
    """`handler(event, context)` as the Lambda entry point of `function` (an HTTP function's Mangum adapter, a
    scheduled handler). An HTTP request's lines carry its own X-Request-ID rather than the invocation's id."""

    def wrap(handler: LambdaHandler) -> LambdaHandler:
        @functools.wraps(handler)
        def invoke(event: dict, context=None) -> dict:
            token = REQUEST_ID.set(getattr(context, "aws_request_id", None))
            try:
                return handler(event, context)
            finally:
                REQUEST_ID.reset(token)
                flush_traces()
                cloudwatch.emit(function, get_settings().powertools_metrics_namespace)

        return invoke

    return wrap


def on_lambda(function: str) -> Callable[[Callable[[dict, float], Awaitable[dict]]], LambdaHandler]:
    """The Lambda entry point of `function` for an async `handler(event, deadline)`; the deadline is on
    time.monotonic(), MARGIN_S before the invocation's own."""

    def wrap(handler: Callable[[dict, float], Awaitable[dict]]) -> LambdaHandler:
        @lambda_entry(function)
        @functools.wraps(handler)
        def invoke(event: dict, context=None) -> dict:
            global _loop
            remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else DEFAULT_TIME_S
            deadline = time.monotonic() + max(remaining - MARGIN_S, 1.0)
            if _loop is None or _loop.is_closed():
                _loop = asyncio.new_event_loop()
            return _loop.run_until_complete(handler(event, deadline))

        return invoke

    return wrap

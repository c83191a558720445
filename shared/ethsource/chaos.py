"""Chaos routes for local runs (`ethsource run --chaos`, CHAOS_ENDPOINTS=true): log lines at every level,
unexpected errors and slow answers on demand, so the dashboards and alerts can be seen working. Off by default,
and then the routes do not exist (404)."""

from __future__ import annotations

import asyncio
import logging
import random

from fastapi import APIRouter, Query

from .errors import InvalidInput, Unavailable

log = logging.getLogger("ethsource.chaos")

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR,
          "critical": logging.CRITICAL}


class ChaosError(RuntimeError):
    """Raised on purpose: it travels the path of any unexpected error (logged, counted, answered 500)."""


router = APIRouter(prefix="/_chaos", include_in_schema=False)


@router.post("/log")
def write_logs(level: str | None = None, count: int = Query(1, ge=1, le=100)) -> dict:
    """`count` log lines at `level`, or each at a random level."""
    level = level and level.lower()
    if level is not None and level not in LEVELS:
        raise InvalidInput(f"level: one of {', '.join(LEVELS)}")
    written = [level or random.choice(list(LEVELS)) for _ in range(count)]
    for name in written:
        log.log(LEVELS[name], "chaos: a log line at %s, on purpose", name, extra={"chaos": True})
    return {"logged": written}


@router.post("/error")
def fail() -> None:
    """An unexpected error (500, counted in ethsource_http_unhandled_exceptions_total) or an unavailable
    dependency (503), at random."""
    if random.random() < 0.5:
        raise ChaosError("chaos: an unexpected error, on purpose")
    raise Unavailable("chaos: a dependency is unavailable, on purpose")


@router.post("/delay")
async def delay(max_ms: float = Query(1000.0, ge=0, le=30_000)) -> dict:
    """Answers after a random delay of up to `max_ms`."""
    delay_s = random.uniform(0, max_ms) / 1000
    await asyncio.sleep(delay_s)
    return {"delayed_ms": round(delay_s * 1000, 1)}

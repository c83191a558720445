"""The fake Etherscan HTTP API: ``getsourcecode`` on ``/v2/api`` and ``/api``, plus test hooks.

Answers follow the real service: HTTP 200 with ``status``/``message``/``result`` for every
outcome, errors included. Faults (502, hangs, rate-limit answers) can be injected at given
rates, and counters under ``/_fake/stats`` let tests and load runs check what a real
Etherscan would have seen, such as calls per key per second.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from functools import lru_cache

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .corpus import ADDRESS_RE, INVALID_ADDRESS_ANSWER, getsourcecode_answer

DEFAULT_CHAINS = frozenset(
    {
        1, 11155111, 17000, 56, 97, 137, 80002, 42161, 421614, 10, 11155420, 8453, 84532, 43114,
        59144, 534352, 324, 81457, 100, 250, 1284, 42220, 5000, 204, 1101, 199, 33139, 480, 146,
        2741, 130, 10143, 1923, 50, 43113,
    }
)
STATS_KEEP_SECONDS = 120
FAULT_KINDS = ("error", "timeout", "rate_limit")
NO_KEY = "(none)"  # the stats label of calls made without an apikey


@dataclass(frozen=True)
class FakeConfig:
    latency_ms: float = 0
    jitter_ms: float = 0
    api_keys: tuple[str, ...] = ()  # empty: any key (or none) is accepted
    rate_limit: float = 0  # calls/s per key; 0: unlimited
    budget: float | None = None  # calls/s per key counted as over budget; None: rate_limit
    error_rate: float = 0  # fraction of calls answered with an HTTP 502
    timeout_rate: float = 0  # fraction of calls that hang for hang_s before answering
    rate_limit_rate: float = 0  # fraction of calls answered with the rate-limit error
    hang_s: float = 30
    supported_chains: frozenset[int] = field(default=DEFAULT_CHAINS)

    def __post_init__(self) -> None:
        rates = (self.error_rate, self.timeout_rate, self.rate_limit_rate)
        if any(not 0 <= r <= 1 for r in rates) or sum(rates) > 1:
            raise ValueError("fault rates must each be within 0..1 and add up to at most 1")
        if min(self.latency_ms, self.jitter_ms, self.rate_limit, self.budget or 0, self.hang_s) < 0:
            raise ValueError("latency, jitter, rate limit, budget and hang time cannot be negative")

    @property
    def effective_budget(self) -> float:
        return self.rate_limit if self.budget is None else self.budget


def _dumps(answer: dict) -> bytes:
    return json.dumps(answer, separators=(",", ":")).encode()


def _notok(result: str) -> bytes:
    return _dumps({"status": "0", "message": "NOTOK", "result": result})


_UNSUPPORTED_CHAIN = _notok(
    "Missing or unsupported chainid parameter (required for v2 api), please see "
    "https://api.etherscan.io/v2/chainlist for the list of supported chainids"
)
_INVALID_KEY = _notok("Invalid API Key")
_BAD_MODULE = _notok("Error! Missing Or invalid Module name")
_BAD_ACTION = _notok("Error! Missing Or invalid Action name")
_INVALID_ADDRESS = _dumps(INVALID_ADDRESS_ANSWER)
# What Cloudflare in front of Etherscan sends when the origin fails.
_BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


@lru_cache(maxsize=2048)
def _answer_body(chain_id: int, address: str) -> bytes:
    return _dumps(getsourcecode_answer(chain_id, address))


def _chain_id(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() else None


class Stats:
    """Call counters. Handlers run on one event loop, so plain attributes need no lock."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.over_budget = 0
        self.rate_limited = 0
        self.faults = dict.fromkeys(FAULT_KINDS, 0)
        self.per_key_per_second: dict[str, dict[int, int]] = {}
        self.max_per_key_per_second: dict[str, int] = {}

    def count_call(self, key: str, second: int) -> int:
        """Record a call; return how many calls ``key`` had already made in this second."""
        self.calls += 1
        seconds = self.per_key_per_second.setdefault(key, {})
        before = seconds.get(second, 0)
        if not before:  # a new window opens: drop the ones past retention
            for old in [s for s in seconds if s < second - STATS_KEEP_SECONDS]:
                del seconds[old]
        seconds[second] = before + 1
        if before + 1 > self.max_per_key_per_second.get(key, 0):
            self.max_per_key_per_second[key] = before + 1
        return before

    def as_json(self) -> dict:
        return {
            "calls": self.calls,
            "over_budget": self.over_budget,
            "rate_limited": self.rate_limited,
            "faults": dict(self.faults),
            "per_key_per_second": {
                key: {str(s): n for s, n in seconds.items()} for key, seconds in self.per_key_per_second.items()
            },
            "max_per_key_per_second": dict(self.max_per_key_per_second),
        }


def create_app(config: FakeConfig | None = None) -> Starlette:
    config = config or FakeConfig()
    stats = Stats()
    keys = frozenset(config.api_keys)
    budget = config.effective_budget
    # Etherscan states the plan's limit in the message; with no limit configured, say the free plan's.
    limit = config.rate_limit or budget or 5
    rate_limited = _notok(f"Max calls per sec rate limit reached ({limit:g}/sec)")
    error_below = config.error_rate
    timeout_below = error_below + config.timeout_rate
    rate_limit_below = timeout_below + config.rate_limit_rate

    def json_response(body: bytes) -> Response:
        return Response(body, media_type="application/json")

    def answer(request: Request, key: str, calls_before: int) -> bytes:
        params = request.query_params
        chain_id = _chain_id(params.get("chainid"))
        if chain_id not in config.supported_chains:
            return _UNSUPPORTED_CHAIN
        if keys and key not in keys:
            return _INVALID_KEY
        if config.rate_limit and calls_before >= config.rate_limit:
            stats.rate_limited += 1
            return rate_limited
        if params.get("module") != "contract":
            return _BAD_MODULE
        if params.get("action") != "getsourcecode":
            return _BAD_ACTION
        address = params.get("address", "")
        if not ADDRESS_RE.fullmatch(address):
            return _INVALID_ADDRESS
        return _answer_body(chain_id, address.lower())

    async def api(request: Request) -> Response:
        key = request.query_params.get("apikey", "")
        calls_before = stats.count_call(key or NO_KEY, int(time.time()))
        if budget and calls_before >= budget:
            stats.over_budget += 1

        if config.latency_ms or config.jitter_ms:
            delay_ms = config.latency_ms + random.uniform(-config.jitter_ms, config.jitter_ms)
            if delay_ms > 0:
                await asyncio.sleep(delay_ms / 1000)

        if rate_limit_below:
            draw = random.random()
            if draw < error_below:
                stats.faults["error"] += 1
                return Response(_BAD_GATEWAY_HTML, status_code=502, media_type="text/html")
            if draw < timeout_below:
                stats.faults["timeout"] += 1
                await asyncio.sleep(config.hang_s)
            elif draw < rate_limit_below:
                stats.faults["rate_limit"] += 1
                return json_response(rate_limited)

        return json_response(answer(request, key, calls_before))

    async def get_stats(request: Request) -> Response:
        return JSONResponse(stats.as_json())

    async def reset_stats(request: Request) -> Response:
        stats.reset()
        return JSONResponse(stats.as_json())

    app = Starlette(
        routes=[
            Route("/v2/api", api, methods=["GET"]),
            Route("/api", api, methods=["GET"]),
            Route("/_fake/stats", get_stats, methods=["GET"]),
            Route("/_fake/reset", reset_stats, methods=["POST"]),
        ]
    )
    app.state.stats = stats
    app.state.config = config
    return app

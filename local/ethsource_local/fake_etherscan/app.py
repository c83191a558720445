"""The fake explorers' HTTP app: Etherscan v2, Sourcify v2 and Blockscout v2 routes, plus test hooks.

Every route goes through the same machinery: an added latency, injected faults (a 502 page, a hang, or the
provider's own rate-limit answer) at given rates, a per-key rate limit, and counters under ``/_fake/stats``
that let tests and load runs check what a real explorer would have seen, such as calls per key per second.
Etherscan's key is its ``apikey`` parameter, Blockscout's too (optional there); Sourcify takes none, so its
calls count under ``(none)``, as one client's would. The top-level counters are Etherscan's, as they were
before the other explorers came; ``calls_by_provider`` and ``providers`` hold every provider's. Calls for the
chain lists (Etherscan's ``/v2/chainlist``, Sourcify's ``/chains``) count under ``chain_lists`` alone, so that
a service refreshing them leaves the contract calls a test counts unchanged.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import blockscout_api, etherscan_api, sourcify_api
from .chains import DEFAULT_CHAINS

PROVIDERS = ("etherscan", "sourcify", "blockscout")
CHAIN_LISTS = "chain_lists"  # the counters of the chain-list routes, whichever provider's
STATS_KEEP_SECONDS = 120
FAULT_KINDS = ("error", "timeout", "rate_limit")
NO_KEY = "(none)"  # the stats label of calls made without a key
# What Cloudflare in front of an explorer sends when the origin fails.
_BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class FakeConfig:
    latency_ms: float = 0
    jitter_ms: float = 0
    api_keys: tuple[str, ...] = ()  # Etherscan's; empty: any key (or none) is accepted
    rate_limit: float = 0  # Etherscan calls/s per key; 0: unlimited
    budget: float | None = None  # Etherscan calls/s per key counted as over budget; None: rate_limit
    sourcify_rate_limit: float = 0  # Sourcify calls/s per key, also its budget; 0: unlimited
    blockscout_rate_limit: float = 0  # Blockscout calls/s per key, also its budget; 0: unlimited
    error_rate: float = 0  # fraction of calls (to any provider) answered with an HTTP 502
    timeout_rate: float = 0  # fraction of calls that hang for hang_s before answering
    rate_limit_rate: float = 0  # fraction of calls answered with the provider's rate-limit error
    hang_s: float = 30
    supported_chains: frozenset[int] = field(default=DEFAULT_CHAINS)
    blockscout_chains: frozenset[int] | None = None  # the chains with a Blockscout instance; None: supported_chains

    def __post_init__(self) -> None:
        rates = (self.error_rate, self.timeout_rate, self.rate_limit_rate)
        if any(not 0 <= r <= 1 for r in rates) or sum(rates) > 1:
            raise ValueError("fault rates must each be within 0..1 and add up to at most 1")
        limits = (self.rate_limit, self.budget or 0, self.sourcify_rate_limit, self.blockscout_rate_limit)
        if min(self.latency_ms, self.jitter_ms, self.hang_s, *limits) < 0:
            raise ValueError("latency, jitter, rate limits, budget and hang time cannot be negative")

    @property
    def effective_budget(self) -> float:
        return self.rate_limit if self.budget is None else self.budget

    def limits(self, provider: str) -> tuple[float, float]:
        """(rate limit, budget) in calls/s per key of one provider's routes; 0 for none."""
        if provider == "etherscan":
            return self.rate_limit, self.effective_budget
        limit = self.sourcify_rate_limit if provider == "sourcify" else self.blockscout_rate_limit
        return limit, limit


class Stats:
    """One provider's call counters. Handlers run on one event loop, so plain attributes need no lock."""

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


def stats_json(stats: dict[str, Stats]) -> dict:
    return {
        **stats["etherscan"].as_json(),
        "calls_by_provider": {name: stats[name].calls for name in PROVIDERS},
        "providers": {name: stats[name].as_json() for name in PROVIDERS},
        CHAIN_LISTS: stats[CHAIN_LISTS].as_json(),
    }


# A route's answer, given the request and `over_limit`: a callable saying (and counting) whether this call is
# over its key's rate, which each provider checks at the point its real service does.
Answer = Callable[..., Response]


def create_app(config: FakeConfig | None = None) -> Starlette:
    config = config or FakeConfig()
    stats = {name: Stats() for name in (*PROVIDERS, CHAIN_LISTS)}
    chains_of = {provider: config.supported_chains for provider in PROVIDERS}
    if config.blockscout_chains is not None:
        chains_of["blockscout"] = config.blockscout_chains
    error_below = config.error_rate
    timeout_below = error_below + config.timeout_rate
    rate_limit_below = timeout_below + config.rate_limit_rate
    # Etherscan states the plan's limit in the message; with no limit configured, say the free plan's.
    etherscan_rate_limited = etherscan_api.rate_limited_body(config.rate_limit or config.effective_budget or 5)
    rate_limited_answers = {
        "etherscan": lambda: etherscan_api.json_answer(etherscan_rate_limited),
        "sourcify": sourcify_api.rate_limited,
        "blockscout": blockscout_api.rate_limited,
    }

    def counted(provider: str, answer: Answer, counters_name: str | None = None) -> Callable[[Request], object]:
        counters, (rate_limit, budget) = stats[counters_name or provider], config.limits(provider)

        async def endpoint(request: Request) -> Response:
            key = "" if provider == "sourcify" else request.query_params.get("apikey", "")
            calls_before = counters.count_call(key or NO_KEY, int(time.time()))
            if budget and calls_before >= budget:
                counters.over_budget += 1

            if config.latency_ms or config.jitter_ms:
                delay_ms = config.latency_ms + random.uniform(-config.jitter_ms, config.jitter_ms)
                if delay_ms > 0:
                    await asyncio.sleep(delay_ms / 1000)

            if rate_limit_below:
                draw = random.random()
                if draw < error_below:
                    counters.faults["error"] += 1
                    return Response(_BAD_GATEWAY_HTML, status_code=502, media_type="text/html")
                if draw < timeout_below:
                    counters.faults["timeout"] += 1
                    await asyncio.sleep(config.hang_s)
                elif draw < rate_limit_below:
                    counters.faults["rate_limit"] += 1
                    return rate_limited_answers[provider]()

            def over_limit() -> bool:
                if rate_limit and calls_before >= rate_limit:
                    counters.rate_limited += 1
                    return True
                return False

            return answer(request, over_limit=over_limit)

        return endpoint

    getsourcecode = partial(etherscan_api.getsourcecode, keys=frozenset(config.api_keys),
                            rate_limited_body=etherscan_rate_limited)
    explorer_routes = (
        ("/v2/api", "etherscan", getsourcecode),
        ("/api", "etherscan", getsourcecode),
        ("/v2/chainlist", "etherscan", partial(etherscan_api.chainlist, rate_limited_body=etherscan_rate_limited),
         CHAIN_LISTS),
        ("/sourcify/server/v2/contract/{chain_id}/{address}", "sourcify", sourcify_api.contract),
        ("/sourcify/server/chains", "sourcify", sourcify_api.chains_list, CHAIN_LISTS),
        ("/blockscout/{chain_id}/api/v2/smart-contracts/{address}", "blockscout", blockscout_api.smart_contract),
    )

    async def get_stats(request: Request) -> Response:
        return JSONResponse(stats_json(stats))

    async def reset_stats(request: Request) -> Response:
        for counters in stats.values():
            counters.reset()
        return JSONResponse(stats_json(stats))

    app = Starlette(
        routes=[
            *(Route(path, counted(provider, partial(answer, chains=chains_of[provider]), *counters_name),
                    methods=["GET"])
              for path, provider, answer, *counters_name in explorer_routes),
            Route("/_fake/stats", get_stats, methods=["GET"]),
            Route("/_fake/reset", reset_stats, methods=["POST"]),
        ]
    )
    app.state.stats = stats
    app.state.config = config
    return app


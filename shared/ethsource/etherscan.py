"""Etherscan API v2 `getsourcecode`: one call within the shared budget, its answers sorted into items and errors."""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from urllib.parse import urlencode

import httpcore
import httpx
from opentelemetry.trace import StatusCode

from . import sources
from .addresses import address_or_none
from .budget import Budget
from .metrics import ETHERSCAN_CALLS, ETHERSCAN_DURATION
from .observability import client_span
from .sources import ContractSource, ProviderError, SourceError

log = logging.getLogger(__name__)

POOL_SIZE = 8  # connections of each of the client's pools


# error code -> the `result` label of ethsource_etherscan_calls_total
_RESULTS = {"etherscan_rate_limited": "rate_limited", "etherscan_auth": "auth_error",
            "invalid_address": "invalid_address", "unsupported_chain": "unsupported_chain",
            "etherscan_unavailable": "unavailable", "source_too_large": "too_large"}


def _error(code: str, message: str, *, transient: bool) -> ProviderError:
    return ProviderError("etherscan", code, message, transient=transient)


def classify_notok(reason: str) -> ProviderError:
    """Etherscan answers errors as HTTP 200, status "0", with the reason in `result`."""
    lowered = reason.lower()
    if "rate limit" in lowered:
        return _error("etherscan_rate_limited", reason, transient=True)
    if "api key" in lowered:
        return _error("etherscan_auth", reason, transient=False)
    if "invalid address" in lowered:
        return _error("invalid_address", reason, transient=False)
    if "chainid" in lowered:
        return _error("unsupported_chain", reason, transient=False)
    return _error("etherscan_error", reason, transient=False)


class EtherscanClient:
    """Calls leave only in their turn of the shared budget; the API key is never logged or recorded."""

    name = "etherscan"

    def __init__(self, url: str, budget: Budget, *, timeout_s: float, max_bytes: int, max_connections: int):
        parsed = httpx.URL(url)
        self._host, self.budget, self._max_bytes = parsed.host, budget, max_bytes
        self._scheme, self._port, self._path = parsed.raw_scheme, parsed.port, parsed.raw_path.split(b"?")[0]
        self._headers = [(b"Host", parsed.netloc), (b"Accept", b"application/json")]
        # httpx's HTTP engine (httpcore) without httpx's request and response models: building an httpx.Request
        # alone cost 78 µs against 10 µs (measured), and a scanner is bound by its CPU. Several small pools rather
        # than one large: httpcore looks at every connection of its pool (a readability check each) on every
        # request and every response, which with 128 connections was a quarter of the scanner's CPU.
        self._pools = [httpcore.AsyncConnectionPool(max_connections=POOL_SIZE)
                       for _ in range(max(1, math.ceil(max_connections / POOL_SIZE)))]
        self._next_pool = itertools.cycle(self._pools)
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)).as_dict()

    async def fetch(self, chain_id: int, address: str) -> ContractSource:
        """The contract's source; for a proxy, with its implementation's (one level, same chain) when verified."""
        source = sources.parse_item(await self.item(chain_id, address))
        implementation = address_or_none(source.implementation_address)
        if not source.proxy or not implementation or implementation == address:
            return source
        try:
            implementation_source = sources.parse_item(await self.item(chain_id, implementation))
        except (ProviderError, SourceError) as exc:
            if getattr(exc, "transient", False):
                raise
            # The proxy itself is verified: serve it, and say why its implementation is missing.
            log.warning("implementation source unavailable", extra={
                "chain_id": chain_id, "address": address, "implementation": implementation, "error_code": exc.code})
            return source
        return sources.with_implementation(source, implementation_source)

    async def item(self, chain_id: int, address: str) -> dict:
        """The single result item of `getsourcecode`; ProviderError otherwise. Waits for its turn first."""
        params = {"chainid": chain_id, "module": "contract", "action": "getsourcecode", "address": address}
        # A span of our own rather than httpx's instrumentation, which would record the URL and so the key.
        with client_span("etherscan getsourcecode", **{
                "server.address": self._host, "ethsource.chain_id": chain_id, "ethsource.address": address}) as span:
            if key := await self.budget.take_turn():
                params["apikey"] = key
            started = time.perf_counter()
            try:
                item = await self._call(params)
            except ProviderError as exc:
                ETHERSCAN_CALLS.labels(_RESULTS.get(exc.code, "error")).inc()
                span.set_status(StatusCode.ERROR, exc.code)
                raise
            finally:
                ETHERSCAN_DURATION.observe(time.perf_counter() - started)
            ETHERSCAN_CALLS.labels("ok").inc()
            return item

    async def _call(self, params: dict) -> dict:
        target = httpcore.URL(scheme=self._scheme, host=self._host, port=self._port,
                              target=self._path + b"?" + urlencode(params).encode())
        request = httpcore.Request(b"GET", target, headers=self._headers, extensions={"timeout": self._timeout})
        try:
            response = await next(self._next_pool).handle_async_request(request)
            try:
                content = await self._read(response)
            finally:
                await response.aclose()
        except httpcore.TimeoutException:
            raise _error("etherscan_unavailable", "Etherscan did not answer in time", transient=True) from None
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:  # its message can carry the URL, so the key
            raise _error("etherscan_unavailable", f"cannot reach Etherscan ({type(exc).__name__})",
                         transient=True) from None
        status_code = response.status
        if status_code == 429 or status_code >= 500:
            raise _error("etherscan_unavailable", f"Etherscan answered HTTP {status_code}", transient=True)
        if status_code != 200:
            raise _error("etherscan_error", f"Etherscan answered HTTP {status_code}", transient=False)
        try:
            answer = json.loads(content)
            status, result = answer["status"], answer["result"]
        except (ValueError, KeyError, TypeError, RecursionError):
            # An HTML error page from a proxy in front of Etherscan is a passing fault.
            raise _error("etherscan_unavailable", "Etherscan answered something that is not its JSON",
                         transient=True) from None
        if status != "1":
            raise classify_notok(str(result)[:500])
        if not isinstance(result, list) or not result or not isinstance(result[0], dict):
            raise _error("etherscan_error", "Etherscan answered OK with no result item", transient=False)
        return result[0]

    async def _read(self, response: httpcore.Response) -> bytes:
        """The body, refused as soon as it passes the size limit (before it is all in memory)."""
        chunks, size = [], 0
        async for chunk in response.aiter_stream():
            size += len(chunk)
            if size > self._max_bytes:
                raise _error("source_too_large", f"the source is larger than {self._max_bytes} bytes",
                             transient=False)
            chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        for pool in self._pools:
            await pool.aclose()

"""One call to a source provider: the GET within a timeout and a size limit, its span and its metrics; a failure
never carries the URL, which can hold an API key."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode, urlsplit

import httpcore
from opentelemetry.trace import Span, StatusCode

from .metrics import PROVIDER_CALLS, PROVIDER_DURATION
from .observability import client_span
from .sources import ProviderError, SourceError

# the `result` label of a failure, by the end of its code
_RESULTS = {"rate_limited": "rate_limited", "unavailable": "unavailable", "unsupported_chain": "unsupported_chain",
            "source_too_large": "too_large", "not_verified": "not_verified", "invalid_source": "invalid"}
_ANSWERS = ("not_verified", "unsupported_chain")  # what the provider knows, not a failed call


POOL_SIZE = 8  # connections of each of a provider's pools


class ProviderHttp:
    """GETs to one provider through httpx's HTTP engine (httpcore), without httpx's request and response models:
    building an httpx.Request alone cost 78 µs against 10 (measured), and a scanner is bound by its CPU. Several
    small pools rather than one large: httpcore looks at every connection of its pool (a readability check each)
    on every request and every response, which with 128 connections was a quarter of the scanner's CPU."""

    def __init__(self, provider: str, *, timeout_s: float, max_bytes: int, max_connections: int,
                 pools: list | None = None):
        self.provider, self._name, self._max_bytes = provider, provider.capitalize(), max_bytes
        self._pools = pools or [httpcore.AsyncConnectionPool(max_connections=POOL_SIZE)
                                for _ in range(max(1, math.ceil(max_connections / POOL_SIZE)))]
        self._next_pool = itertools.cycle(self._pools)
        self._timeout = {"connect": min(timeout_s, 5.0), "read": timeout_s, "write": timeout_s, "pool": timeout_s}

    async def get(self, url: str, params: dict | None = None) -> tuple[int, bytes]:
        """(status, body) of one GET; the caller has taken its turn of the provider's budget."""
        started = time.perf_counter()
        try:
            response = await next(self._next_pool).handle_async_request(self._request(url, params))
            try:
                body = await self._read(response)
            finally:
                await response.aclose()
        except httpcore.TimeoutException:
            raise self._unavailable(f"{self._name} did not answer in time") from None
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:  # its message can carry the URL
            raise self._unavailable(f"cannot reach {self._name} ({type(exc).__name__})") from None
        finally:
            PROVIDER_DURATION.labels(self.provider).observe(time.perf_counter() - started)
        return response.status, body

    def _request(self, url: str, params: dict | None) -> httpcore.Request:
        parts = urlsplit(url)
        query = "&".join(part for part in (parts.query, urlencode(params) if params else "") if part)
        target = (parts.path or "/") + (f"?{query}" if query else "")
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return httpcore.Request(b"GET", httpcore.URL(scheme=parts.scheme.encode(), host=parts.hostname.encode(),
                                                     port=parts.port, target=target.encode()),
                                headers=[(b"Host", host.encode()), (b"Accept", b"application/json")],
                                extensions={"timeout": self._timeout})

    async def _read(self, response: httpcore.Response) -> bytes:
        """The body, read no further than the limit: a huge answer is refused without being held."""
        chunks, size = [], 0
        async for chunk in response.aiter_stream():
            size += len(chunk)
            if size > self._max_bytes:
                raise ProviderError(self.provider, "source_too_large",
                                    f"the source is larger than {self._max_bytes} bytes", transient=False)
            chunks.append(chunk)
        return b"".join(chunks)

    def _unavailable(self, message: str) -> ProviderError:
        return ProviderError(self.provider, f"{self.provider}_unavailable", message, transient=True)

    async def close(self) -> None:
        for pool in self._pools:
            await pool.aclose()


@contextmanager
def recorded_call(provider: str, name: str, server: str, chain_id: int, address: str) -> Iterator[Span]:
    """A client span of our own around a provider's call and its parsing (httpx's instrumentation would record the
    URL, and so a key), and its outcome in ethsource_provider_calls_total."""
    with client_span(name, **{
            "server.address": server, "ethsource.chain_id": chain_id, "ethsource.address": address}) as span:
        try:
            yield span
        except (ProviderError, SourceError) as exc:
            PROVIDER_CALLS.labels(provider, _result(exc.code)).inc()
            if exc.code not in _ANSWERS:
                span.set_status(StatusCode.ERROR, exc.code)
            raise
        PROVIDER_CALLS.labels(provider, "ok").inc()


def _result(code: str) -> str:
    return next((result for end, result in _RESULTS.items() if code.endswith(end)), "error")

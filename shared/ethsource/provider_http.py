"""One call to a source provider: the GET within a timeout and a size limit, its span and its metrics; a failure
never carries the URL, which can hold an API key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from opentelemetry.trace import Span, SpanKind, StatusCode

from .metrics import PROVIDER_CALLS, PROVIDER_DURATION
from .observability import tracer
from .sources import ProviderError, SourceError

# the `result` label of a failure, by the end of its code
_RESULTS = {"rate_limited": "rate_limited", "unavailable": "unavailable", "unsupported_chain": "unsupported_chain",
            "source_too_large": "too_large", "not_verified": "not_verified", "invalid_source": "invalid"}
_ANSWERS = ("not_verified", "unsupported_chain")  # what the provider knows, not a failed call


class ProviderHttp:
    """GETs to one provider over a transport of its own. httpx's transport without the Client around it: the
    Client's redirect, auth, cookie and URL-merging layers cost a third of a call's CPU (measured on Etherscan's)."""

    def __init__(self, provider: str, *, timeout_s: float, max_bytes: int, max_connections: int,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.provider, self._name, self._max_bytes = provider, provider.capitalize(), max_bytes
        self._transport = transport or httpx.AsyncHTTPTransport(limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections))
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)).as_dict()

    async def get(self, url: str, params: dict | None = None) -> tuple[int, bytes]:
        """(status, body) of one GET; the caller has taken its turn of the provider's budget."""
        request = httpx.Request("GET", url, params=params, extensions={"timeout": self._timeout})
        started = time.perf_counter()
        try:
            response = await self._transport.handle_async_request(request)
            try:
                body = await self._read(response)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise self._unavailable(f"{self._name} did not answer in time") from None
        except httpx.TransportError as exc:  # its message can carry the URL
            raise self._unavailable(f"cannot reach {self._name} ({type(exc).__name__})") from None
        finally:
            PROVIDER_DURATION.labels(self.provider).observe(time.perf_counter() - started)
        return response.status_code, body

    async def _read(self, response: httpx.Response) -> bytes:
        """The body, read no further than the limit: a huge answer is refused without being held."""
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise ProviderError(self.provider, "source_too_large",
                                    f"the source is larger than {self._max_bytes} bytes", transient=False)
            chunks.append(chunk)
        return b"".join(chunks)

    def _unavailable(self, message: str) -> ProviderError:
        return ProviderError(self.provider, f"{self.provider}_unavailable", message, transient=True)

    async def close(self) -> None:
        await self._transport.aclose()


@contextmanager
def recorded_call(provider: str, name: str, server: str, chain_id: int, address: str) -> Iterator[Span]:
    """A client span of our own around a provider's call and its parsing (httpx's instrumentation would record the
    URL, and so a key), and its outcome in ethsource_provider_calls_total."""
    with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes={
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

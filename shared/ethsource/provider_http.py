"""One call to a source provider: the GET within a timeout and a size limit, its span and its metrics; a failure
never carries the URL, which can hold an API key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from opentelemetry.trace import Span, StatusCode

from .metrics import PROVIDER_CALLS, PROVIDER_DURATION
from .observability import client_span
from .sources import ProviderError, SourceError

# the `result` label of a failure, by the end of its code
_RESULTS = {"rate_limited": "rate_limited", "unavailable": "unavailable", "unsupported_chain": "unsupported_chain",
            "source_too_large": "too_large", "not_verified": "not_verified", "invalid_source": "invalid"}
_ANSWERS = ("not_verified", "unsupported_chain")  # what the provider knows, not a failed call
_CHUNK = 64 * 1024


class ProviderHttp:
    """GETs to one provider through aiohttp, whose HTTP parser is in C: a scanner is bound by its CPU, and a call
    cost 0.53 ms of it against 1.1-1.2 ms through httpcore (128 in flight against the fake, measured; httpcore
    looks at every connection of its pool on every request). One session per event loop, opened on first use."""

    def __init__(self, provider: str, *, timeout_s: float, max_bytes: int, max_connections: int):
        self.provider, self._name, self._max_bytes = provider, provider.capitalize(), max_bytes
        self._max_connections = max_connections
        # the whole call within the timeout (one timer a call: a read timeout is set again for every chunk read)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 5.0))
        self._duration = PROVIDER_DURATION.labels(provider)
        self._session: aiohttp.ClientSession | None = None

    async def get(self, url: str, params: dict | None = None) -> tuple[int, bytes]:
        """(status, body) of one GET; the caller has taken its turn of the provider's budget."""
        started = time.perf_counter()
        try:
            async with self._opened().get(url, params=params, allow_redirects=False) as response:
                return response.status, await self._read(response)
        except TimeoutError:
            raise self._unavailable(f"{self._name} did not answer in time") from None
        except aiohttp.ClientError as exc:  # its message can carry the URL
            raise self._unavailable(f"cannot reach {self._name} ({type(exc).__name__})") from None
        finally:
            self._duration.observe(time.perf_counter() - started)

    def _opened(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections), timeout=self._timeout,
                headers={"Accept": "application/json"},
                cookie_jar=aiohttp.DummyCookieJar(), raise_for_status=False)
        return self._session

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, read no further than the limit: a huge answer is refused without being held."""
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > self._max_bytes:
                raise ProviderError(self.provider, "source_too_large",
                                    f"the source is larger than {self._max_bytes} bytes", transient=False)
            chunks.append(chunk)
        return b"".join(chunks)

    def _unavailable(self, message: str) -> ProviderError:
        return ProviderError(self.provider, f"{self.provider}_unavailable", message, transient=True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


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

"""One call to a source provider: the GET within a timeout and a size limit, its span and its metrics; a failure
never carries the URL, which can hold an API key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.trace import Span, StatusCode

from .http_client import AnswerTooLarge, Client, ConnectionFailed
from .metrics import PROVIDER_CALLS, PROVIDER_DURATION, labelled
from .observability import client_span
from .sources import ProviderError, SourceError

# the `result` label of a failure, by the end of its code
_RESULTS = {"rate_limited": "rate_limited", "unavailable": "unavailable", "unsupported_chain": "unsupported_chain",
            "source_too_large": "too_large", "not_verified": "not_verified", "invalid_source": "invalid"}
_ANSWERS = ("not_verified", "unsupported_chain")  # what the provider knows, not a failed call
USER_AGENT = "ethsource"  # some APIs behind a CDN refuse requests that name no client


class ProviderHttp:
    """GETs to one provider through ethsource.http_client: a scanner is bound by its CPU, and that client costs a
    fraction of aiohttp's (docs/performance.md). A client per server (Blockscout has one per instance), opened on
    first use on the event loop that calls."""

    def __init__(self, provider: str, *, timeout_s: float, max_bytes: int, max_connections: int):
        self.provider, self._name, self._max_bytes = provider, provider.capitalize(), max_bytes
        self._max_connections, self._timeout_s = max_connections, timeout_s
        self._duration = PROVIDER_DURATION.labels(provider)
        self._clients: dict[str, Client] = {}

    async def get(self, url: str) -> tuple[int, bytes]:
        """(status, body) of one GET of an absolute http(s) URL, its query encoded; the caller has taken its turn of
        the provider's budget."""
        started = time.perf_counter()
        path_at = url.find("/", url.index("://") + 3)
        origin, target = (url[:path_at], url[path_at:]) if path_at > 0 else (url, "/")
        try:
            answer = await self._client(origin).request("GET", target)
        except TimeoutError:
            raise self._unavailable(f"{self._name} did not answer in time") from None
        except ConnectionFailed as exc:  # its message names no URL
            raise self._unavailable(f"cannot reach {self._name} ({exc})") from None
        except AnswerTooLarge:
            raise ProviderError(self.provider, "source_too_large",
                                f"the source is larger than {self._max_bytes} bytes", transient=False) from None
        finally:
            self._duration.observe(time.perf_counter() - started)
        return answer.status, answer.body

    def _client(self, origin: str) -> Client:
        client = self._clients.get(origin)
        if client is None:
            client = self._clients[origin] = Client(
                origin, limit=self._max_connections, timeout=self._timeout_s, max_bytes=self._max_bytes,
                headers={"Accept": "application/json", "User-Agent": USER_AGENT})
        return client

    def _unavailable(self, message: str) -> ProviderError:
        return ProviderError(self.provider, f"{self.provider}_unavailable", message, transient=True)

    async def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


@contextmanager
def recorded_call(provider: str, name: str, server: str, chain_id: int, address: str) -> Iterator[Span]:
    """A client span of our own around a provider's call and its parsing (httpx's instrumentation would record the
    URL, and so a key), and its outcome in ethsource_provider_calls_total."""
    with client_span(name, **{
            "server.address": server, "ethsource.chain_id": chain_id, "ethsource.address": address}) as span:
        try:
            yield span
        except (ProviderError, SourceError) as exc:
            labelled(PROVIDER_CALLS, provider, _result(exc.code)).inc()
            if exc.code not in _ANSWERS:
                span.set_status(StatusCode.ERROR, exc.code)
            raise
        labelled(PROVIDER_CALLS, provider, "ok").inc()


def _result(code: str) -> str:
    return next((result for end, result in _RESULTS.items() if code.endswith(end)), "error")

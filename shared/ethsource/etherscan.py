"""Etherscan API v2 client: one `getsourcecode` call, its answers sorted into results and coded errors."""

from __future__ import annotations

import logging
import time

import httpx
from opentelemetry.trace import SpanKind, StatusCode

from .config import Settings, get_settings, shared_instance
from .observability import ETHERSCAN_CALLS, ETHERSCAN_DURATION, tracer
from .ratelimit import KeyBudget

# httpx logs every request URL at INFO, and the URL carries the API key.
logging.getLogger("httpx").setLevel(logging.WARNING)


class EtherscanError(Exception):
    """A failed call. `transient` ones (rate limit, timeout, 5xx) are worth retrying; the rest are final."""

    def __init__(self, code: str, message: str, *, transient: bool):
        super().__init__(message)
        self.code, self.message, self.transient = code, message, transient


# error code -> the `result` label of ethsource_etherscan_calls_total
_RESULTS = {"etherscan_rate_limited": "rate_limited", "etherscan_auth": "auth_error",
            "invalid_address": "invalid_address", "unsupported_chain": "unsupported_chain",
            "etherscan_unavailable": "unavailable", "source_too_large": "too_large"}


def classify_notok(reason: str) -> EtherscanError:
    """Etherscan answers errors as HTTP 200, status "0", with the reason in `result`."""
    lowered = reason.lower()
    if "rate limit" in lowered:
        return EtherscanError("etherscan_rate_limited", reason, transient=True)
    if "api key" in lowered:
        return EtherscanError("etherscan_auth", reason, transient=False)
    if "invalid address" in lowered:
        return EtherscanError("invalid_address", reason, transient=False)
    if "chainid" in lowered:
        return EtherscanError("unsupported_chain", reason, transient=False)
    return EtherscanError("etherscan_error", reason, transient=False)


class EtherscanClient:
    def __init__(self, settings: Settings):
        self._url = settings.etherscan_api_url
        self._host = httpx.URL(self._url).host
        self._max_bytes = settings.scan_max_source_bytes
        # Without keys only the fake (or a keyless call that Etherscan will rate-limit hard) is usable.
        self.budget = KeyBudget(settings.etherscan_api_keys, settings.etherscan_rate_limit)
        # httpx's transport, without the Client around it: the Client's redirect, auth, cookie and URL-merging
        # layers, which a GET to one fixed endpoint does not need, cost a third or more of a call's CPU (measured
        # against the fake: 0.74-0.93 ms against 0.45-0.58 ms per call), and a scanner is bound by its CPU.
        self._transport = httpx.HTTPTransport(limits=httpx.Limits(
            max_connections=settings.scan_concurrency * 2, max_keepalive_connections=settings.scan_concurrency))
        self._timeout = httpx.Timeout(settings.etherscan_timeout_s, connect=5.0).as_dict()

    def get_source_item(self, chain_id: int, address: str) -> dict:
        """The single result item of `getsourcecode`; EtherscanError otherwise. Waits for the budget first."""
        params = {"chainid": chain_id, "module": "contract", "action": "getsourcecode", "address": address}
        if key := self.budget.acquire():
            params["apikey"] = key
        started = time.perf_counter()
        # A span of our own rather than httpx's instrumentation, which would record the URL and so the key.
        with tracer.start_as_current_span("etherscan getsourcecode", kind=SpanKind.CLIENT, attributes={
                "server.address": self._host, "ethsource.chain_id": chain_id, "ethsource.address": address}) as span:
            try:
                item = self._call(params)
            except EtherscanError as exc:
                ETHERSCAN_CALLS.labels(_RESULTS.get(exc.code, "error")).inc()
                span.set_status(StatusCode.ERROR, exc.code)
                raise
            else:
                ETHERSCAN_CALLS.labels("ok").inc()
                return item
            finally:
                ETHERSCAN_DURATION.observe(time.perf_counter() - started)

    def _call(self, params: dict) -> dict:
        request = httpx.Request("GET", self._url, params=params, extensions={"timeout": self._timeout})
        try:
            response = self._transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
        except httpx.TimeoutException:
            raise EtherscanError("etherscan_unavailable", "Etherscan did not answer in time", transient=True) from None
        except httpx.TransportError as exc:  # the message of an httpx error can carry the URL, so the key
            raise EtherscanError("etherscan_unavailable", f"cannot reach Etherscan ({type(exc).__name__})",
                                 transient=True) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise EtherscanError("etherscan_unavailable", f"Etherscan answered HTTP {response.status_code}",
                                 transient=True)
        if response.status_code != 200:
            raise EtherscanError("etherscan_error", f"Etherscan answered HTTP {response.status_code}", transient=False)
        if len(response.content) > self._max_bytes:
            raise EtherscanError("source_too_large", f"the source is larger than {self._max_bytes} bytes",
                                 transient=False)
        try:
            answer = response.json()
            status, result = answer["status"], answer["result"]
        except (ValueError, KeyError, TypeError, RecursionError):
            # An HTML error page from a proxy in front of Etherscan is a passing fault.
            raise EtherscanError("etherscan_unavailable", "Etherscan answered something that is not its JSON",
                                 transient=True) from None
        if status != "1":
            raise classify_notok(str(result)[:500])
        if not isinstance(result, list) or not result or not isinstance(result[0], dict):
            raise EtherscanError("etherscan_error", "Etherscan answered OK with no result item", transient=False)
        return result[0]

    def close(self) -> None:
        self._transport.close()


@shared_instance
def get_client() -> EtherscanClient:
    return EtherscanClient(get_settings())

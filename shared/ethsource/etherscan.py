"""Etherscan API v2 `getsourcecode`: one call within the shared budget, its answers sorted into items and errors."""

from __future__ import annotations

import time
from functools import cache
from urllib.parse import quote

import httpx

from . import jsontext, sources
from .budget import Budget
from .metrics import ETHERSCAN_CALLS, ETHERSCAN_DURATION, labelled
from .provider_http import ProviderHttp, recorded_call
from .sources import ContractSource, ProviderError

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
    if "chainid" in lowered or "not supported for this chain" in lowered:  # the latter: not on the key's plan
        return _error("unsupported_chain", reason, transient=False)
    return _error("etherscan_error", reason, transient=False)


class EtherscanClient:
    """Calls leave only in their turn of the shared budget; the API key is never logged or recorded."""

    name = "etherscan"

    def __init__(self, url: str, budget: Budget, http: ProviderHttp):
        self._url, self._host, self.budget, self._http = url, httpx.URL(url).host, budget, http

    async def fetch(self, chain_id: int, address: str) -> ContractSource:
        """The contract's source as Etherscan verifies it (the provider chain looks up a proxy's implementation)."""
        with recorded_call(self.name, "etherscan getsourcecode", self._host, chain_id, address):
            return sources.parse_item(await self.item(chain_id, address))

    async def item(self, chain_id: int, address: str) -> dict:
        """The single result item of `getsourcecode`; ProviderError otherwise. Waits for its turn first.

        `address` is a checked one (0x and hex digits), as every address the scanner is given: nothing to encode."""
        url = f"{self._url}?chainid={chain_id}&module=contract&action=getsourcecode&address={address}"
        if key := await self.budget.take_turn():
            url += _key_parameter(key)
        started = time.perf_counter()
        try:
            item = _result_item(*await self._http.get(url))
        except ProviderError as exc:
            labelled(ETHERSCAN_CALLS, _RESULTS.get(exc.code, "error")).inc()
            raise
        finally:
            ETHERSCAN_DURATION.observe(time.perf_counter() - started)
        labelled(ETHERSCAN_CALLS, "ok").inc()
        return item

    async def close(self) -> None:
        await self._http.close()


@cache
def _key_parameter(key: str) -> str:
    return f"&apikey={quote(key, safe='')}"


def _result_item(status_code: int, content: bytes) -> dict:
    if status_code == 429 or status_code >= 500:
        raise _error("etherscan_unavailable", f"Etherscan answered HTTP {status_code}", transient=True)
    if status_code != 200:
        raise _error("etherscan_error", f"Etherscan answered HTTP {status_code}", transient=False)
    try:
        answer = jsontext.loads(content)
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

"""A provider's HTTP answer, status and body, sorted into the JSON it carries or the failure it means.

For the providers whose status carries the meaning (Sourcify, Blockscout); Etherscan wraps every outcome in a
200 and is read by its client.
"""

from .fields import decode
from .model import ProviderError

_REASON_CHARS = 300  # of a provider's own error message, quoted in ours


def json_answer(provider: str, status_code: int, body: bytes) -> object:
    """The body's JSON, unless the status alone is a failure: 429 (rate limited) and 5xx (unavailable), both
    transient whatever the body says.

    A body that is not JSON is a passing fault on a 200 (a proxy's error page, an answer cut short) and a final
    one on any other status (something else than the provider answered: check its URL).
    """
    name = provider.capitalize()
    if status_code == 429:
        raise ProviderError(provider, f"{provider}_rate_limited", f"{name} answered HTTP 429: too many requests",
                            transient=True)
    if status_code >= 500:
        raise ProviderError(provider, f"{provider}_unavailable", f"{name} answered HTTP {status_code}", transient=True)
    try:
        return decode(body)
    except ValueError:
        if status_code == 200:
            raise ProviderError(provider, f"{provider}_unavailable", f"{name} answered something that is not its JSON",
                                transient=True) from None
        raise ProviderError(provider, f"{provider}_error",
                            f"{name} answered HTTP {status_code} with something that is not its JSON",
                            transient=False) from None


def refused(provider: str, status_code: int, document: object, code: str | None = None) -> ProviderError:
    """The final error of an answer that is neither a contract nor a passing fault, quoting the provider's reason."""
    reason = ""
    if isinstance(document, dict):
        parts = [document.get(key) for key in ("customCode", "message")]
        reason = ": ".join(str(part) for part in parts if part)[:_REASON_CHARS]
    message = f"{provider.capitalize()} answered HTTP {status_code}" + (f" ({reason})" if reason else "")
    return ProviderError(provider, code or f"{provider}_error", message, transient=False)

"""What a contract's source is once parsed, whichever provider gave it, and how parsing it can fail."""

import json
from dataclasses import dataclass

from ..errors import AppError


class SourceError(AppError):
    """The provider answered, but not with a usable source tree (`not_verified`, `invalid_source`)."""

    def __init__(self, code: str, message: str):
        super().__init__(message, code)


class ProviderError(Exception):
    """A provider's answer that is a failure rather than a contract, as `EtherscanError` is for Etherscan.

    `transient` ones (rate limit, 5xx, a page that is not the provider's JSON) are worth retrying; the rest are
    final. `code` is one of `<provider>_rate_limited`, `<provider>_unavailable`, `<provider>_error`, or
    `unsupported_chain`. `resume_at` names the provider a retry starts at (set by the provider chain).
    """

    resume_at: str | None = None

    def __init__(self, provider: str, code: str, message: str, *, transient: bool):
        super().__init__(message)
        self.provider, self.code, self.message, self.transient = provider, code, message, transient


@dataclass(frozen=True)
class ContractSource:
    files: dict[str, str]
    # The ABI as JSON text, as the provider gave it: decoded only when a download serves it (decoding and
    # encoding it again for the stored blob was a tenth of the scanner's CPU, measured).
    abi_json: str | None
    metadata: dict
    implementation: "ContractSource | None" = None

    @property
    def abi(self) -> list | None:
        """The ABI, or None when the provider's is not a JSON list."""
        try:
            abi = json.loads(self.abi_json) if self.abi_json else None
        except (ValueError, RecursionError):
            return None
        return abi if isinstance(abi, list) else None

    @property
    def contract_name(self) -> str | None:
        return self.metadata.get("contract_name")

    @property
    def compiler_version(self) -> str | None:
        return self.metadata.get("compiler_version")

    @property
    def language(self) -> str:
        return self.metadata.get("language", "Solidity")

    @property
    def proxy(self) -> bool:
        return bool(self.metadata.get("proxy"))

    @property
    def implementation_address(self) -> str | None:
        return self.metadata.get("implementation")

    @property
    def provider(self) -> str:
        # Sources stored before Sourcify and Blockscout were asked have no provider: Etherscan gave them all.
        return self.metadata.get("provider", "etherscan")

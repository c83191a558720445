"""The source providers asked in turn (SOURCE_PROVIDERS): the next one when a provider has no verified source for
the contract or does not serve its chain; a passing fault stops there, and the scan's retry resumes at it.

A contract ends `not_verified` only when every provider said so (the error names them); an answer that is neither
a source, "not verified" nor "not this chain" (a hostile or broken one) ends the scan with its own error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from . import sources
from .addresses import address_or_none
from .budget import Budget
from .sources import ContractSource, ProviderError, SourceError

log = logging.getLogger(__name__)

class Provider(Protocol):
    name: str

    @property
    def budget(self) -> Budget: ...

    async def fetch(self, chain_id: int, address: str) -> ContractSource: ...

    async def close(self) -> None: ...


class ProviderChain:
    def __init__(self, providers: Sequence[Provider]):
        if not providers:
            raise ValueError("a provider chain needs a provider")
        self._providers = list(providers)
        self.names = tuple(provider.name for provider in providers)

    @property
    def pacing_budget(self) -> Budget:
        """The budget of the provider every new scan asks first, on which a scanner paces its claims."""
        return self._providers[0].budget

    async def fetch(self, chain_id: int, address: str, resume_at: str | None = None) -> ContractSource:
        """The contract's source from the first provider that verifies it, starting at `resume_at` (a retry; the
        first provider when None or no longer configured); a proxy's with its implementation's (one level, same
        chain, every provider asked) when some provider verifies it."""
        source = await self._first_verified(chain_id, address, resume_at)
        implementation = address_or_none(source.implementation_address)
        if not source.proxy or not implementation or implementation == address:
            return source
        try:
            implementation_source = await self._first_verified(chain_id, implementation, None)
        except ProviderError as exc:
            if exc.transient:
                exc.resume_at = source.provider  # the retry finds the proxy where it was found this time
                raise
            implementation_missing = exc
        except SourceError as exc:
            implementation_missing = exc
        else:
            return sources.with_implementation(source, implementation_source)
        # The proxy itself is verified: serve it, and say why its implementation is missing.
        log.warning("implementation source unavailable", extra={
            "chain_id": chain_id, "address": address, "implementation": implementation,
            "error_code": implementation_missing.code})
        return source

    async def _first_verified(self, chain_id: int, address: str, resume_at: str | None) -> ContractSource:
        start = self.names.index(resume_at) if resume_at in self.names else 0
        # The providers before `start` had no source for it in an earlier attempt.
        not_verified, unserved = list(self.names[:start]), []
        for provider in self._providers[start:]:
            try:
                return await provider.fetch(chain_id, address)
            except ProviderError as exc:
                if exc.transient:
                    exc.resume_at = provider.name
                    raise
                if exc.code != "unsupported_chain":
                    raise
                unserved.append(provider.name)
            except SourceError as exc:
                if exc.code != "not_verified":
                    raise
                not_verified.append(provider.name)
        if not not_verified:
            raise ProviderError(self.names[-1], "unsupported_chain",
                                f"no source provider serves chain {chain_id} ({_listed(unserved, 'and')} asked)",
                                transient=False)
        message = f"the contract's source code is not verified on {_listed(not_verified, 'or')}"
        if unserved:
            verb = "does" if len(unserved) == 1 else "do"
            message += f" ({_listed(unserved, 'and')} {verb} not serve chain {chain_id})"
        raise SourceError("not_verified", message)

    async def close(self) -> None:
        for provider in self._providers:
            await provider.close()


def _listed(names: list[str], conjunction: str) -> str:
    """["etherscan", "sourcify", "blockscout"] -> "Etherscan, Sourcify or Blockscout"."""
    titled = [name.capitalize() for name in names]
    return titled[0] if len(titled) == 1 else f"{', '.join(titled[:-1])} {conjunction} {titled[-1]}"

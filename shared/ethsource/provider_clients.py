"""The Sourcify and Blockscout clients: each call in its turn of the provider's shared budget, parsed by
`ethsource.sourcify` and `ethsource.blockscout`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from . import blockscout, sourcify
from .budget import Budget
from .provider_http import ProviderHttp, recorded_call
from .sources import ContractSource, ProviderError


class SourcifyClient:
    """Sourcify API v2: one server for every chain it verifies, which answers `unsupported_chain` for the others."""

    name = sourcify.PROVIDER

    def __init__(self, url: str, budget: Budget, http: ProviderHttp):
        self._url, self._host, self.budget, self._http = url, httpx.URL(url).host, budget, http

    async def fetch(self, chain_id: int, address: str) -> ContractSource:
        with recorded_call(self.name, "sourcify contract", self._host, chain_id, address):
            await self.budget.take_turn()
            return sourcify.parse_contract(*await self._http.get(sourcify.contract_url(self._url, chain_id, address)))

    async def close(self) -> None:
        await self._http.close()


class BlockscoutClient:
    """Blockscout REST API v2: one instance per chain (BLOCKSCOUT_API_URLS), each with a budget of its own."""

    name = blockscout.PROVIDER

    def __init__(self, instances: Mapping[int, str], budget_of: Callable[[str], Budget], http: ProviderHttp):
        """`budget_of(host)` is the budget of the instance at `host`, built when first needed."""
        self._instances, self._budget_of, self._http = dict(sorted(instances.items())), budget_of, http
        self._hosts = {chain_id: httpx.URL(url).host for chain_id, url in self._instances.items()}

    @property
    def budget(self) -> Budget:
        """The budget a scanner paces its claims on when Blockscout is asked first: its first instance's."""
        return self._budget_of(next(iter(self._hosts.values())))

    async def fetch(self, chain_id: int, address: str) -> ContractSource:
        instance = self._instances.get(chain_id)
        if instance is None:
            raise ProviderError(self.name, "unsupported_chain", f"no Blockscout instance is set for chain {chain_id}"
                                " (BLOCKSCOUT_API_URLS)", transient=False)
        host = self._hosts[chain_id]
        with recorded_call(self.name, "blockscout smart-contract", host, chain_id, address):
            await self._budget_of(host).take_turn()
            return blockscout.parse_contract(*await self._http.get(blockscout.contract_url(instance, address)))

    async def close(self) -> None:
        await self._http.close()

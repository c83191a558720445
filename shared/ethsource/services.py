"""The composition root: the clients a process shares, built once from the settings when first needed.

Functions reach their dependencies here and pass them on explicitly to the use cases; nothing else in the
library reads the settings or builds a client. Built lazily (not at import): on Lambda, Mangum runs no lifespan,
and a container should start even while the database is still coming up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from .batching import blocking_runner
from .budget import Budget, LeaseStore
from .chains import ETHERSCAN_CHAINS, ChainList, ChainRegistry, etherscan_chains, sourcify_chains
from .config import Settings, get_settings, shared_instance
from .db import Database
from .etherscan import EtherscanClient
from .provider_clients import BlockscoutClient, SourcifyClient
from .provider_http import ProviderHttp
from .providers import Provider, ProviderChain
from .queue import Publisher, Topology, queue_stats
from .scanning import RetryPolicy, Scanner
from .store import ContractStore
from .submission import Submitter

BUDGET_NAME_CHARS = 64  # rate_budget_keys.budget


@dataclass(frozen=True)
class Services:
    settings: Settings
    database: Database
    store: ContractStore
    publisher: Publisher
    topology: Topology
    retry_policy: RetryPolicy
    chains: ChainRegistry  # the chains a contract may be submitted on

    @property
    def submitter(self) -> Submitter:
        return Submitter(self.store, self.publisher)

    def messages_waiting(self) -> int:
        """Messages ready in the scan queue and its delay queues (the messages scanners hold are not counted)."""
        stats = queue_stats(self.settings.rabbitmq_url, [self.topology.queue, *self.topology.delay_queues])
        return sum(ready for ready, _ in stats.values())

    def queue_depth(self) -> tuple[int, int]:
        """(messages ready, consumers) of the scan queue."""
        return queue_stats(self.settings.rabbitmq_url, [self.topology.queue])[self.topology.queue]


@shared_instance
def services() -> Services:
    settings = get_settings()
    policy = RetryPolicy(settings.scan_max_attempts, settings.scan_retry_base_delay_s)
    topology = Topology.from_settings(settings)
    database = Database(settings.database_url)
    return Services(settings, database, ContractStore(database), Publisher(settings.rabbitmq_url, topology), topology,
                    policy, _chain_registry(settings))


def _chain_registry(settings: Settings) -> ChainRegistry:
    lists = {
        "etherscan": lambda: ChainList("etherscan", frozenset(ETHERSCAN_CHAINS),
                                       partial(etherscan_chains, settings.etherscan_api_url)),
        "sourcify": lambda: ChainList("sourcify", frozenset(), partial(sourcify_chains, settings.sourcify_api_url)),
        "blockscout": lambda: ChainList("blockscout", frozenset(settings.blockscout_api_urls)),
    }
    return ChainRegistry([lists[name]() for name in settings.source_providers])


def forget() -> None:
    """Drop the settings and every client built from them (tests and tools that change the environment)."""
    if services.cache_info().currsize:
        services().publisher.close()
    services.cache_clear()
    get_settings.cache_clear()
    for scanning in _scanners.values():
        for budget in scanning.budgets.values():
            budget.stop()
    _scanners.clear()


@dataclass
class ScanServices:
    """The scanner of one event loop and what it owns there."""

    scanner: Scanner
    providers: ProviderChain
    budgets: dict[str, Budget] = field(default_factory=dict)  # by name: those built so far

    async def release_budgets(self) -> None:
        """Give back every key held (e.g. at the end of a Lambda invocation), so others need not wait for the
        leases to run out."""
        await asyncio.gather(*(budget.release() for budget in list(self.budgets.values())))

    async def close(self) -> None:
        await asyncio.gather(*(budget.close() for budget in list(self.budgets.values())))
        await self.providers.close()


_scanners: dict[asyncio.AbstractEventLoop, ScanServices] = {}


def scan_services() -> ScanServices:
    """The scanner of the running event loop (uvicorn's, or a Lambda container's), built on first use."""
    loop = asyncio.get_running_loop()
    if (built := _scanners.get(loop)) is None:
        built = _scanners[loop] = _build_scanner(services())
    return built


def _build_scanner(shared: Services) -> ScanServices:
    settings = shared.settings
    budgets: dict[str, Budget] = {}
    leases, run_blocking = LeaseStore(shared.database), blocking_runner("budget")

    def budget(name: str, rate: float, keys: tuple[str, ...] = ()) -> Budget:
        """The budget of that name, built and started when first asked for (a Blockscout instance's, mid-scan)."""
        if name not in budgets:
            budgets[name] = Budget(name, keys, rate, leases, run_blocking)
            budgets[name].start()
        return budgets[name]

    def http(provider: str) -> ProviderHttp:
        return ProviderHttp(provider, timeout_s=settings.etherscan_timeout_s, max_bytes=settings.scan_max_source_bytes,
                            max_connections=settings.scan_concurrency)

    clients: dict[str, Callable[[], Provider]] = {
        "etherscan": lambda: EtherscanClient(
            settings.etherscan_api_url,
            budget("etherscan", settings.etherscan_rate_limit, settings.etherscan_api_keys), http("etherscan")),
        "sourcify": lambda: SourcifyClient(
            settings.sourcify_api_url, budget("sourcify", settings.sourcify_rate_limit), http("sourcify")),
        "blockscout": lambda: BlockscoutClient(
            settings.blockscout_api_urls,
            lambda host: budget(f"blockscout:{host}"[:BUDGET_NAME_CHARS], settings.blockscout_rate_limit),
            http("blockscout")),
    }
    providers = ProviderChain([clients[name]() for name in settings.source_providers])
    scanner = Scanner(store=shared.store, publisher=shared.publisher, topology=shared.topology, fetch=providers.fetch,
                      budget=providers.pacing_budget, policy=shared.retry_policy, lease_s=settings.scan_lease_s,
                      call_timeout_s=settings.etherscan_timeout_s, concurrency=settings.scan_concurrency,
                      run_blocking=blocking_runner("scan-db", threads=2))  # a claim and a write at once
    return ScanServices(scanner, providers, budgets)

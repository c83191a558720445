"""Settings: every environment variable the functions read, typed and validated once, at start."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from . import sourcify
from .errors import ConfigError
from .secrets import resolve_secrets

DEFAULT_ETHERSCAN_API_URL = "https://api.etherscan.io/v2/api"
PROVIDERS = ("etherscan", "sourcify", "blockscout")
# The Blockscout instances that Blockscout itself hosts (its chainscout list, data/chains.json, hostedBy
# "blockscout"), for the chains of Etherscan's built-in list and a few Etherscan does not serve.
DEFAULT_BLOCKSCOUT_API_URLS = {
    1: "https://eth.blockscout.com",
    10: "https://explorer.optimism.io",
    30: "https://rootstock.blockscout.com",
    61: "https://etc.blockscout.com",
    100: "https://gnosis.blockscout.com",
    130: "https://unichain.blockscout.com",
    137: "https://polygon.blockscout.com",
    314: "https://filecoin.blockscout.com",
    324: "https://zksync.blockscout.com",
    1868: "https://soneium.blockscout.com",
    8453: "https://base.blockscout.com",
    10200: "https://gnosis-chiado.blockscout.com",
    42161: "https://arbitrum.blockscout.com",
    42170: "https://arbitrum-nova.blockscout.com",
    42220: "https://celo.blockscout.com",
    84532: "https://base-sepolia.blockscout.com",
    421614: "https://arbitrum-sepolia.blockscout.com",
    534352: "https://scroll.blockscout.com",
    560048: "https://eth-hoodi.blockscout.com",
    11155111: "https://eth-sepolia.blockscout.com",
    11155420: "https://optimism-sepolia.blockscout.com",
}


def _comma_list(raw: object) -> object:
    if isinstance(raw, str):
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    return raw


def _url_of(*schemes: str, example: str):
    def check(url: str) -> str:
        if urlsplit(url).scheme not in schemes:
            raise ValueError(f"must look like {example}")
        return url
    return AfterValidator(check)


def _known_providers(names: tuple[str, ...]) -> tuple[str, ...]:
    if not names:
        raise ValueError(f"must name at least one of {', '.join(PROVIDERS)}")
    if unknown := [name for name in names if name not in PROVIDERS]:
        raise ValueError(f"unknown provider {unknown[0]!r}; choose from {', '.join(PROVIDERS)}")
    if len(set(names)) != len(names):
        raise ValueError("names a provider twice")
    return names


def _chain_urls(raw: object) -> object:
    """`chain_id=url,…` as {chain_id: url}; an entry is never echoed in the error (a URL can carry a key)."""
    if not isinstance(raw, str):
        return raw
    urls = {}
    for entry in _comma_list(raw):
        chain, _, url = entry.partition("=")
        if not (chain.strip().isdigit() and int(chain) > 0 and urlsplit(url.strip()).scheme in ("http", "https")):
            raise ValueError("each entry must look like 10=https://explorer.optimism.io")
        urls[int(chain)] = url.strip().rstrip("/")
    if not urls:
        raise ValueError("must name at least one instance (leave blockscout out of SOURCE_PROVIDERS for none)")
    return urls


CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)]
ChainUrls = Annotated[dict[int, str], NoDecode, BeforeValidator(_chain_urls)]
CallsPerSecond = Annotated[float, Field(gt=0)]
Seconds = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    """The environment variables, by the names given in `validation_alias` (the same on every platform).

    URLs and keys carry secrets: they are left out of repr, and a malformed value is never echoed in an error.
    """

    model_config = SettingsConfigDict(frozen=True, case_sensitive=True, hide_input_in_errors=True, extra="ignore")

    database_url: Annotated[str, _url_of("mysql", "mysql+pymysql", example="mysql://user:pass@host:3306/db")] = Field(
        "mysql://root@127.0.0.1:3306/ethsource", validation_alias="DATABASE_URL", repr=False)
    rabbitmq_url: Annotated[str, _url_of("amqp", "amqps", example="amqp://user:pass@host:5672/vhost")] = Field(
        "amqp://guest:guest@127.0.0.1:5672/%2F", validation_alias="RABBITMQ_URL", repr=False)
    etherscan_api_url: Annotated[str, _url_of("http", "https", example="https://api.etherscan.io/v2/api")] = Field(
        DEFAULT_ETHERSCAN_API_URL, validation_alias="ETHERSCAN_API_URL")
    etherscan_api_keys: CommaList = Field((), validation_alias="ETHERSCAN_API_KEYS", repr=False)
    # calls/s per key, for the whole deployment: every scanner instance draws on one shared budget
    etherscan_rate_limit: CallsPerSecond = Field(5.0, validation_alias="ETHERSCAN_RATE_LIMIT")
    etherscan_timeout_s: Seconds = Field(10.0, validation_alias="ETHERSCAN_TIMEOUT")  # of any provider's call
    # asked in this order: the next when one has no verified source or does not serve the chain
    source_providers: Annotated[CommaList, AfterValidator(_known_providers)] = Field(
        PROVIDERS, validation_alias="SOURCE_PROVIDERS")
    sourcify_api_url: Annotated[str, _url_of("http", "https", example="https://sourcify.dev/server")] = Field(
        sourcify.DEFAULT_API_URL, validation_alias="SOURCIFY_API_URL")
    blockscout_api_urls: ChainUrls = Field(DEFAULT_BLOCKSCOUT_API_URLS, validation_alias="BLOCKSCOUT_API_URLS")
    # calls/s for the whole deployment, like Etherscan's: Sourcify's one server, each Blockscout instance
    sourcify_rate_limit: CallsPerSecond = Field(2.0, validation_alias="SOURCIFY_RATE_LIMIT")
    blockscout_rate_limit: CallsPerSecond = Field(3.0, validation_alias="BLOCKSCOUT_RATE_LIMIT")
    api_keys: CommaList = Field((), validation_alias="API_KEYS", repr=False)  # for the HTTP API; none: open
    scan_queue: str = Field("ethsource.scan", min_length=1, validation_alias="SCAN_QUEUE")
    scan_concurrency: int = Field(128, ge=1, validation_alias="SCAN_CONCURRENCY")  # explorer calls in flight
    scan_consumer: bool = Field(False, validation_alias="SCAN_CONSUMER")  # consume the queue (vs. pushed messages)
    scan_max_attempts: int = Field(6, ge=1, validation_alias="SCAN_MAX_ATTEMPTS")
    scan_retry_base_delay_s: Seconds = Field(2.0, validation_alias="SCAN_RETRY_BASE_DELAY")
    scan_max_source_bytes: int = Field(20 * 1024 * 1024, ge=1024, validation_alias="SCAN_MAX_SOURCE_BYTES")
    scan_lease_s: Seconds = Field(120.0, validation_alias="SCAN_LEASE")  # a PROCESS row this old lost its scanner
    sweep_after_s: Seconds = Field(600.0, validation_alias="SWEEP_AFTER")
    sweep_interval_s: float = Field(0.0, ge=0, validation_alias="SWEEP_INTERVAL")  # > 0: sweep keeps its own timer
    chaos_endpoints: bool = Field(False, validation_alias="CHAOS_ENDPOINTS")  # local runs only (ethsource.chaos)
    # On Lambda, the CloudWatch namespace of the metrics each invocation writes (ethsource.cloudwatch)
    powertools_metrics_namespace: str = Field("ethsource", min_length=1, max_length=255,
                                              validation_alias="POWERTOOLS_METRICS_NAMESPACE")
    otel_exporter_otlp_endpoint: str | None = Field(None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                         BeforeValidator(lambda level: level.upper() if isinstance(level, str) else level)] = Field(
        "INFO", validation_alias="LOG_LEVEL")

    @model_validator(mode="after")
    def _sweep_spares_leased_scans(self) -> Settings:
        # A sweep resets rows untouched for SWEEP_AFTER; a scan holds its row for SCAN_LEASE. Shorter, and the
        # sweeper would take rows away from scans still running.
        if self.sweep_after_s <= self.scan_lease_s:
            raise ValueError(f"SWEEP_AFTER ({self.sweep_after_s:g} s) must be longer than SCAN_LEASE "
                             f"({self.scan_lease_s:g} s), or sweep would re-queue contracts still being scanned")
        return self

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   **_other_sources: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource]:
        # The environment comes in through from_env, as a mapping: the process's, or one a test or tool builds.
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """The settings of an environment, its secret references resolved; ConfigError names what is wrong."""
        env = resolve_secrets(env)
        names = {field.validation_alias for field in cls.model_fields.values()}
        try:
            return cls(**{name: value for name, value in env.items() if name in names and value != ""})
        except ValidationError as exc:
            raise ConfigError("; ".join(_describe(error) for error in exc.errors())) from None

    @property
    def retry_delays_s(self) -> tuple[float, ...]:
        """The back-off before each retry (before jitter): one delay queue per entry."""
        return tuple(self.scan_retry_base_delay_s * 2**n for n in range(self.scan_max_attempts - 1))

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value, so tests and log filters can look for them."""
        found = [*self.etherscan_api_keys, *self.api_keys]
        for url in (self.database_url, self.rabbitmq_url):
            if password := urlsplit(url).password:
                found.append(unquote(password))  # as it reaches the server, and so as it could leak
        return tuple(found)


def _describe(error: dict) -> str:
    """One validation error as `NAME: what is wrong`, without the value (it may be a secret)."""
    name = ".".join(str(part) for part in error["loc"]) or "settings"
    message = error["msg"].removeprefix("Value error, ")
    return message if name == "settings" else f"{name}: {message}"


def shared_instance(factory):
    """`functools.cache` for a factory without arguments, that builds once even when many threads ask at once.

    A plain cache lets every thread that misses at the same moment build its own (a pool, a client each).
    """
    cached = functools.cache(factory)
    lock = threading.Lock()

    @functools.wraps(factory)
    def get():
        with lock:
            return cached()

    get.cache_clear, get.cache_info = cached.cache_clear, cached.cache_info
    return get


@shared_instance
def get_settings() -> Settings:
    return Settings.from_env()

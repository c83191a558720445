"""Settings, read from the environment once and validated in one place."""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

DEFAULT_ETHERSCAN_API_URL = "https://api.etherscan.io/v2/api"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it (never its secret value)."""


@dataclass(frozen=True)
class Settings:
    # URLs and keys carry secrets: keep them out of repr so a logged Settings leaks nothing.
    database_url: str = field(repr=False)
    rabbitmq_url: str = field(repr=False)
    etherscan_api_keys: tuple[str, ...] = field(repr=False)
    api_keys: tuple[str, ...] = field(default=(), repr=False)  # for the HTTP API; none: the API is open
    etherscan_api_url: str = DEFAULT_ETHERSCAN_API_URL
    etherscan_rate_limit: float = 5.0
    etherscan_timeout_s: float = 10.0
    scan_queue: str = "ethsource.scan"
    scan_concurrency: int = 32
    scan_consumer: bool = False  # the scan container consumes the queue itself (vs. being pushed messages)
    scan_max_attempts: int = 6  # Etherscan calls per scan before a passing fault becomes ERROR
    scan_retry_base_delay_s: float = 2.0  # back-off before retry n: base * 2**(n-1), with jitter
    scan_max_source_bytes: int = 20 * 1024 * 1024
    scan_lease_s: float = 120.0  # a PROCESS row untouched this long lost its scanner: another may take it
    sweep_after_s: float = 600.0  # a contract untouched this long in CREATED/PROCESS is queued again
    sweep_interval_s: float = 0.0  # > 0: the sweep function schedules itself (local runs, docker-compose)
    chaos_endpoints: bool = False  # local runs only: the /_chaos routes (ethsource.chaos)
    otel_exporter_otlp_endpoint: str | None = None
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: os._Environ[str] | dict[str, str] = os.environ) -> Settings:
        settings = cls(
            database_url=env.get("DATABASE_URL", "mysql://root@127.0.0.1:3306/ethsource"),
            rabbitmq_url=env.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
            etherscan_api_keys=_list(env, "ETHERSCAN_API_KEYS"),
            api_keys=_list(env, "API_KEYS"),
            etherscan_api_url=env.get("ETHERSCAN_API_URL", DEFAULT_ETHERSCAN_API_URL),
            etherscan_rate_limit=_number(env, "ETHERSCAN_RATE_LIMIT", 5.0),
            etherscan_timeout_s=_number(env, "ETHERSCAN_TIMEOUT", 10.0),
            scan_queue=env.get("SCAN_QUEUE", "ethsource.scan"),
            scan_concurrency=int(_number(env, "SCAN_CONCURRENCY", 32)),
            scan_consumer=_flag(env, "SCAN_CONSUMER"),
            scan_max_attempts=int(_number(env, "SCAN_MAX_ATTEMPTS", 6)),
            scan_retry_base_delay_s=_number(env, "SCAN_RETRY_BASE_DELAY", 2.0),
            scan_max_source_bytes=int(_number(env, "SCAN_MAX_SOURCE_BYTES", 20 * 1024 * 1024)),
            scan_lease_s=_number(env, "SCAN_LEASE", 120.0),
            sweep_after_s=_number(env, "SWEEP_AFTER", 600.0),
            sweep_interval_s=_number(env, "SWEEP_INTERVAL", 0.0),
            chaos_endpoints=_flag(env, "CHAOS_ENDPOINTS"),
            otel_exporter_otlp_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if urlsplit(self.database_url).scheme not in ("mysql", "mysql+pymysql"):
            raise ConfigError("DATABASE_URL must look like mysql://user:pass@host:3306/db")
        if urlsplit(self.rabbitmq_url).scheme not in ("amqp", "amqps"):
            raise ConfigError("RABBITMQ_URL must look like amqp://user:pass@host:5672/vhost")
        if urlsplit(self.etherscan_api_url).scheme not in ("http", "https"):
            raise ConfigError("ETHERSCAN_API_URL must be an http(s) URL")
        if self.etherscan_rate_limit <= 0:
            raise ConfigError("ETHERSCAN_RATE_LIMIT must be a positive number of calls per second")
        if self.scan_concurrency < 1:
            raise ConfigError("SCAN_CONCURRENCY must be at least 1")
        if self.scan_max_attempts < 1:
            raise ConfigError("SCAN_MAX_ATTEMPTS must be at least 1")
        if self.scan_retry_base_delay_s <= 0:
            raise ConfigError("SCAN_RETRY_BASE_DELAY must be a positive number of seconds")

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


def _list(env, name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _flag(env, name: str) -> bool:
    return env.get(name, "").lower() in ("1", "true", "yes")


def _number(env, name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def shared_instance(factory):
    """`functools.cache` for a factory without arguments, that builds once even when many threads ask at once.

    A plain cache lets every thread that misses at the same moment build its own: 32 scan workers starting
    together would each get an Etherscan client, and so a rate budget, of their own.
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
    from .secrets import resolve_secrets  # imported here: it imports ConfigError from this module

    return Settings.from_env(resolve_secrets(os.environ))

"""Prometheus metrics: what every function counts, and what the scan function reads when it is scraped."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

disable_created_metrics()  # the *_created series only double the series count

# API traffic only: health checks, probes, /metrics and the OpenAPI document are not counted (see http.py).
HTTP_REQUESTS = Counter(
    "ethsource_http_requests_total", "API requests answered", ["function", "route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "ethsource_http_request_duration_seconds", "Time to answer an API request", ["function", "route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_FLIGHT = Gauge("ethsource_http_requests_in_flight", "API requests being answered", ["function"],
                       multiprocess_mode="livesum")
HTTP_EXCEPTIONS = Counter(
    "ethsource_http_unhandled_exceptions_total", "HTTP requests that raised an unexpected error", ["function", "route"]
)
# outcome: success, error (recorded ERROR), retry (a passing fault, scheduled again), skipped (nothing to do:
# a redelivery or an unknown contract), deferred (held by another scan, or no budget now), poison (dead-lettered)
SCANS = Counter("ethsource_scans_total", "Contracts settled by the scanner, by outcome", ["outcome"])
SCAN_DURATION = Histogram(
    "ethsource_scan_duration_seconds", "Time from claiming a contract to its outcome",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
# result: ok, rate_limited, auth_error, invalid_address, unsupported_chain, unavailable, too_large, error
ETHERSCAN_CALLS = Counter("ethsource_etherscan_calls_total", "Calls to Etherscan, by result", ["result"])
ETHERSCAN_DURATION = Histogram(
    "ethsource_etherscan_call_duration_seconds", "Time of one Etherscan call",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# Every source provider's calls (Etherscan's too, besides the two above). result: ok (a verified source),
# not_verified, unsupported_chain, rate_limited, unavailable (timeouts, 5xx, answers that are not its JSON),
# too_large, invalid (an answer that cannot be a source tree), error (a final refusal)
PROVIDER_CALLS = Counter("ethsource_provider_calls_total", "Calls to the source providers, by provider and result",
                         ["provider", "result"])
PROVIDER_DURATION = Histogram(
    "ethsource_provider_call_duration_seconds", "Time of one call to a source provider", ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# The shared budgets (ethsource.budget); `key` is a hash of the API key, never the key.
BUDGET_CALLS = Counter("ethsource_budget_calls_total", "Calls the shared budget let leave, by key", ["budget", "key"])
BUDGET_WAITS = Counter("ethsource_budget_waits_total", "Calls that waited for their turn", ["budget"])
BUDGET_WAIT_SECONDS = Counter("ethsource_budget_wait_seconds_total", "Time calls waited for their turn", ["budget"])
BUDGET_LATE_TURNS = Counter("ethsource_budget_late_turns_total",
                            "Turns given up: the process was too busy to send the call within LATE_S", ["budget"])
BUDGET_REFUSALS = Counter("ethsource_budget_refusals_total",
                          "Keys asked for and not given (held by other scanners)", ["budget"])
BUDGET_KEYS_HELD = Gauge("ethsource_budget_keys_held", "Keys this scanner leases now", ["budget"],
                         multiprocess_mode="livesum")
BUDGET_CAPACITY = Gauge("ethsource_budget_capacity_calls_per_second",
                        "What the budget allows the whole fleet: keys × ETHERSCAN_RATE_LIMIT (less its safety margin)",
                        ["budget"], multiprocess_mode="max")
BUDGET_HEALTHY = Gauge("ethsource_budget_healthy", "1 when the last lease request reached the shared budget",
                       ["budget"], multiprocess_mode="livemin")
SWEPT = Counter("ethsource_swept_contracts_total", "Contracts found stuck and queued again by the sweeper")
SCAN_RETRIES = Counter("ethsource_scan_retries_total", "Scans scheduled again after a passing fault", ["reason"])
# Set at scrape time by the scan function from RabbitMQ and the database (see StateCollector):
#   ethsource_queue_messages{queue}, ethsource_queue_consumers{queue},
#   ethsource_queue_oldest_message_age_seconds{queue}, ethsource_contracts{status}
_SCRAPE_TIME_COLLECTORS = []


@cache
def labelled(metric, *labels: str):
    """The metric's child for these labels, kept: prometheus-client's `labels()` costs several times an increment
    (3.5 against 1.0 us measured), and the scanner counts every provider call."""
    return metric.labels(*labels)


def register_scrape_time_collector(collector) -> None:
    """A collector that reads its values when Prometheus scrapes, whatever the number of processes."""
    _SCRAPE_TIME_COLLECTORS.append(collector)
    REGISTRY.register(collector)


def metrics_registry() -> CollectorRegistry:
    """What /metrics reports: this process's metrics, or, when several processes serve one function (prometheus
    client's multiprocess mode, set up by `ethsource serve`), every process's metrics summed.

    Answered from one process alone, each scrape would see the counters of whichever process took it, and
    Prometheus would read every change of process as a counter reset.
    """
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    for collector in _SCRAPE_TIME_COLLECTORS:
        registry.register(collector)
    return registry


class StateCollector:
    """Queue depth, contracts by status and the oldest wait, read when Prometheus scrapes (registered by `scan`).

    The oldest wait is the age of the oldest contract not yet SUCCESS or ERROR, counted from its submission (or
    refresh): retries and sweeps do not reset it, so a scanner that settles nothing shows as a growing age.
    """

    def __init__(self, queue: str, queue_stats: Callable[[], tuple[int, int]],
                 contract_stats: Callable[[], tuple[dict[str, int], float]]):
        self.queue, self._queue_stats, self._contract_stats = queue, queue_stats, contract_stats

    def describe(self):
        return []  # nothing to read at registration: the database and broker are asked at scrape time only

    def collect(self):
        # A scrape reports what it can read; the exporters of RabbitMQ and MySQL and their alerts cover outages.
        try:
            messages, consumers = self._queue_stats()
        except Exception:
            log.warning("queue statistics unavailable for this scrape")
        else:
            yield _gauge("ethsource_queue_messages", "Messages ready in the queue", "queue", {self.queue: messages})
            yield _gauge("ethsource_queue_consumers", "Consumers of the queue", "queue", {self.queue: consumers})
        try:
            by_status, oldest_wait = self._contract_stats()
        except Exception:
            log.warning("contract statistics unavailable for this scrape")
        else:
            yield _gauge("ethsource_contracts", "Contracts by status", "status", by_status)
            yield _gauge("ethsource_queue_oldest_message_age_seconds", "How long the oldest contract still waiting"
                         " for its scan has waited since its submission or refresh", "queue",
                         {self.queue: oldest_wait})


def _gauge(name: str, documentation: str, label: str, values: dict) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for label_value, value in values.items():
        family.add_metric([label_value], value)
    return family

"""Structured logs (Powertools JSON), Prometheus metrics and OpenTelemetry traces, shared by every function."""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import TextIO

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from .config import get_settings

log = logging.getLogger(__name__)

disable_created_metrics()  # the *_created series only double the series count

HTTP_REQUESTS = Counter(
    "ethsource_http_requests_total", "HTTP requests answered", ["function", "route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "ethsource_http_request_duration_seconds", "Time to answer an HTTP request", ["function", "route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_FLIGHT = Gauge("ethsource_http_requests_in_flight", "HTTP requests being answered", ["function"],
                       multiprocess_mode="livesum")
HTTP_EXCEPTIONS = Counter(
    "ethsource_http_unhandled_exceptions_total", "HTTP requests that raised an unexpected error", ["function", "route"]
)
# outcome: success, error (recorded ERROR), retry (a passing fault, scheduled again), skipped (nothing to do:
# a redelivery or an unknown contract), poison (dead-lettered)
SCANS = Counter("ethsource_scans_total", "Scan messages settled, by outcome", ["outcome"])
SCAN_DURATION = Histogram(
    "ethsource_scan_duration_seconds", "Time to settle one scan message",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
# result: ok, rate_limited, auth_error, invalid_address, unsupported_chain, unavailable, too_large, error
ETHERSCAN_CALLS = Counter("ethsource_etherscan_calls_total", "Calls to Etherscan, by result", ["result"])
ETHERSCAN_DURATION = Histogram(
    "ethsource_etherscan_call_duration_seconds", "Time of one Etherscan call",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RATE_LIMIT_WAITS = Counter(
    "ethsource_etherscan_rate_limit_waits_total", "Calls that waited for the Etherscan budget before leaving"
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "ethsource_etherscan_rate_limit_wait_seconds_total", "Time calls spent waiting for the Etherscan budget"
)
SWEPT = Counter("ethsource_swept_contracts_total", "Contracts found stuck and queued again by the sweeper")
SCAN_RETRIES = Counter("ethsource_scan_retries_total", "Scans scheduled again after a passing fault", ["reason"])
# Set at scrape time by the scan function from RabbitMQ and the database (see StateCollector):
#   ethsource_queue_messages{queue}, ethsource_queue_consumers{queue},
#   ethsource_queue_oldest_message_age_seconds{queue}, ethsource_contracts{status}
_SCRAPE_TIME_COLLECTORS = []


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


def configure_logging(service: str, stream: TextIO | None = None) -> None:
    """JSON logs on stdout (or `stream`) for the whole process, library loggers included; the first call wins."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, LambdaPowertoolsFormatter) for h in root.handlers):
        return
    logging.getLogger("pika").setLevel(logging.WARNING)  # pika narrates every connection at INFO
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(LambdaPowertoolsFormatter(service=service, utc=True))
    root.handlers = [handler]
    root.setLevel(get_settings().log_level)


class TraceContextFilter(logging.Filter):
    """Puts the current span's ids on every record; the Powertools formatter prints such extra attributes."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


tracer = trace.get_tracer("ethsource")


@functools.cache
def configure_tracing(service: str) -> bool:
    """Export spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; True when tracing is on.

    Without an endpoint the OpenTelemetry API stays a no-op, so spans cost next to nothing.
    """
    if not get_settings().otel_exporter_otlp_endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.pymysql import PyMySQLInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"ethsource-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # the exporter reads the endpoint itself
    trace.set_tracer_provider(provider)
    PyMySQLInstrumentor().instrument(tracer_provider=provider)  # before the pool opens its first connection
    return True


@contextmanager
def publish_span(queue: str, headers: dict, context: Context | None = None):
    """A producer span (under `context`, or the current one) whose context travels in the message headers."""
    with tracer.start_as_current_span(f"{queue} publish", context=context, kind=SpanKind.PRODUCER, attributes={
            "messaging.system": "rabbitmq", "messaging.destination.name": queue}) as span:
        propagate.inject(headers)
        yield span


def consume_span(name: str, headers: dict | None, **attributes):
    """A consumer span continuing the trace whose context came in the message headers."""
    return tracer.start_as_current_span(name, context=propagate.extract(headers or {}), kind=SpanKind.CONSUMER,
                                        attributes={"messaging.system": "rabbitmq", **attributes})


class HttpMetricsMiddleware:
    """Pure ASGI middleware: counts, times and tracks in-flight requests by route template."""

    def __init__(self, app, function: str):
        self.app, self.function = app, function

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.perf_counter()
        in_flight = HTTP_IN_FLIGHT.labels(self.function)
        in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            in_flight.dec()
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            HTTP_REQUESTS.labels(self.function, route, method, str(status["code"])).inc()
            HTTP_DURATION.labels(self.function, route, method).observe(time.perf_counter() - started)



class StateCollector:
    """Queue depth and age, and contracts by status, read when Prometheus scrapes (registered by `scan`).

    A queued scan message is a CREATED contract, so the oldest CREATED row's age is the oldest message's age:
    RabbitMQ itself does not tell the age of the head of a queue.
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
            by_status, oldest_created_age = self._contract_stats()
        except Exception:
            log.warning("contract statistics unavailable for this scrape")
        else:
            yield _gauge("ethsource_contracts", "Contracts by status", "status", by_status)
            yield _gauge("ethsource_queue_oldest_message_age_seconds", "Age of the oldest queued scan (oldest CREATED"
                         " contract)", "queue", {self.queue: oldest_created_age})


def _gauge(name: str, documentation: str, label: str, values: dict) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for label_value, value in values.items():
        family.add_metric([label_value], value)
    return family

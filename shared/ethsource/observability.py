"""Structured logs (Powertools JSON) and Prometheus metrics, shared by every function."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from prometheus_client import Counter, Gauge, Histogram

from .config import get_settings

HTTP_REQUESTS = Counter(
    "ethsource_http_requests_total", "HTTP requests answered", ["function", "route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "ethsource_http_request_duration_seconds", "Time to answer an HTTP request", ["function", "route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_FLIGHT = Gauge("ethsource_http_requests_in_flight", "HTTP requests being answered", ["function"])
HTTP_EXCEPTIONS = Counter(
    "ethsource_http_unhandled_exceptions_total", "HTTP requests that raised an unexpected error", ["function", "route"]
)
SCANS = Counter("ethsource_scans_total", "Scan messages settled, by outcome", ["outcome"])
SCAN_DURATION = Histogram(
    "ethsource_scan_duration_seconds", "Time to settle one scan message",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


def configure_logging(service: str, stream: TextIO | None = None) -> None:
    """JSON logs on stdout (or `stream`) for the whole process, library loggers included; the first call wins."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, LambdaPowertoolsFormatter) for h in root.handlers):
        return
    logging.getLogger("pika").setLevel(logging.WARNING)  # pika narrates every connection at INFO
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(LambdaPowertoolsFormatter(service=service, utc=True))
    root.handlers = [handler]
    root.setLevel(get_settings().log_level)


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

"""Structured logs (Powertools JSON) that carry the request id, and OpenTelemetry traces, for every function."""

from __future__ import annotations

import functools
import logging
import re
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

log = logging.getLogger(__name__)

# The id of the request (or, in the scanner, of the submission) being handled: on every log line written for
# it, in the answer's X-Request-ID header, and in the scan message, with or without a tracing backend.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
_GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_from(given: bytes | str | None) -> str | None:
    """A caller's (or the gateway's) X-Request-ID when it is a plain token, else None (make one)."""
    if isinstance(given, bytes):
        given = given.decode("latin-1")
    return given if given and _GOOD_REQUEST_ID.fullmatch(given) else None


def configure_logging(service: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """JSON logs on stdout (or `stream`) for the whole process, library loggers included; the first call wins."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, LambdaPowertoolsFormatter) for h in root.handlers):
        return
    logging.getLogger("pika").setLevel(logging.WARNING)  # pika narrates every connection at INFO
    logging.getLogger("httpx").setLevel(logging.WARNING)  # httpx logs each URL at INFO, and a URL can carry a key
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.addFilter(ContextFilter())
    handler.setFormatter(LambdaPowertoolsFormatter(service=service, utc=True))
    root.handlers = [handler]
    root.setLevel(level)


class ContextFilter(logging.Filter):
    """Puts the request id and the current span's ids on every record; the Powertools formatter prints them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (request_id := REQUEST_ID.get()) is not None:
            record.request_id = request_id
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


tracer = trace.get_tracer("ethsource")


@functools.cache
def configure_tracing(service: str, endpoint: str | None) -> bool:
    """Export spans over OTLP/HTTP to `endpoint` (OTEL_EXPORTER_OTLP_ENDPOINT); True when tracing is on.

    Without an endpoint the OpenTelemetry API stays a no-op, so spans cost next to nothing.
    """
    if not endpoint:
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


def flush_traces(timeout_s: float = 5.0) -> None:
    """Send the spans still buffered (a Lambda invocation freezes when it returns, with them inside)."""
    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush(int(timeout_s * 1000))


def traceparent() -> str | None:
    """The current span's context as a W3C traceparent (None without tracing), to carry in a scan message."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def publish_span(queue: str, headers: dict, context: Context | None = None):
    """A producer span (under `context`, or the current one) whose context travels in the message headers."""
    with tracer.start_as_current_span(f"{queue} publish", context=context, kind=SpanKind.PRODUCER, attributes={
            "messaging.system": "rabbitmq", "messaging.destination.name": queue}) as span:
        propagate.inject(headers)
        yield span


def consume_span(name: str, traceparent: str | None, **attributes):
    """A consumer span continuing the trace of the request that queued the contract."""
    context = propagate.extract({"traceparent": traceparent} if traceparent else {})  # {}: a trace of its own
    return tracer.start_as_current_span(name, context=context, kind=SpanKind.CONSUMER,
                                        attributes={"messaging.system": "rabbitmq", **attributes})

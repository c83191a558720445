"""Structured logs (Powertools JSON) that carry the request id, and OpenTelemetry traces, for every function."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
from contextvars import ContextVar
from typing import TextIO

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind

log = logging.getLogger(__name__)

# The id of the request (or, in the scanner, of the submission) being handled: on every log line written for
# it, in the answer's X-Request-ID header, and in the scan message, with or without a tracing backend.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
_GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_from(given: bytes | str | None = None) -> str:
    """A caller's (or the gateway's) X-Request-ID when it is a plain token, else a new id."""
    if isinstance(given, bytes):
        given = given.decode("latin-1")
    return given if given and _GOOD_REQUEST_ID.fullmatch(given) else os.urandom(8).hex()


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
    """Puts the request id and the current span's ids on every record; the Powertools formatter prints them.

    A line about one contract that names its own request id (`extra`) keeps it: a scanner's message holds the
    contracts of many requests.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if (request_id := REQUEST_ID.get()) is not None and "request_id" not in record.__dict__:
            record.request_id = request_id
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


tracer = trace.get_tracer("ethsource")
# Off until configure_tracing finds an endpoint. Off, the span helpers below skip OpenTelemetry altogether: even
# its no-op spans cost the scanner ~8 % of its CPU (measured), for spans nobody receives.
_tracing = False
_NO_SPAN = contextlib.nullcontext(trace.INVALID_SPAN)


@functools.cache
def configure_tracing(service: str, endpoint: str | None) -> bool:
    """Export spans over OTLP/HTTP to `endpoint` (OTEL_EXPORTER_OTLP_ENDPOINT); True when tracing is on.

    Without an endpoint the OpenTelemetry API stays a no-op, so spans cost next to nothing.
    """
    global _tracing
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
    _tracing = True
    return True


def client_span(name: str, **attributes):
    """A span of a call this process makes (to an explorer)."""
    return tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes) if _tracing else _NO_SPAN


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


def published(traceparent_of_request: str | None, queue: str) -> str | None:
    """The trace context a contract's message carries: a producer span of its own, under the request that queued
    it (one message holds the contracts of many requests, so each contract continues its own trace)."""
    if not traceparent_of_request:
        return None
    with tracer.start_as_current_span(f"{queue} publish", context=_context(traceparent_of_request),
                                      kind=SpanKind.PRODUCER, attributes={
                                          "messaging.system": "rabbitmq", "messaging.destination.name": queue}):
        return traceparent()


def batch_span(name: str, traceparents: list[str | None]):
    """A span for work many contracts share (a claim, a write, a submission batch), linked to each one's trace:
    it belongs to none of them alone."""
    if not _tracing:
        return _NO_SPAN
    links = [Link(trace.get_current_span(_context(tp)).get_span_context()) for tp in traceparents if tp]
    return tracer.start_as_current_span(name, context=Context(), links=links)


def _context(traceparent_value: str) -> Context:
    return propagate.extract({"traceparent": traceparent_value})


def consume_span(name: str, traceparent_of_message: str | None, **attributes):
    """A consumer span continuing the trace the contract's message carries (a trace of its own without one)."""
    if not _tracing:
        return _NO_SPAN
    context = _context(traceparent_of_message) if traceparent_of_message else Context()
    return tracer.start_as_current_span(name, context=context, kind=SpanKind.CONSUMER,
                                        attributes={"messaging.system": "rabbitmq", **attributes})

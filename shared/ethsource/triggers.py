"""Each platform's delivery of scan messages, settled by the scanner, and answered as that platform expects.

- Amazon MQ (RabbitMQ) → Lambda: base64 bodies, string headers as {"bytes": [..]}, batches without partial
  failure: every message is settled here, and the batch fails only to get back messages that could not be.
- HTTP pushes: Knative (RabbitMQ Source or Broker/Trigger) posts a CloudEvent, binary (ce-* headers, the
  message as body) or structured (application/cloudevents+json); the OpenFaaS RabbitMQ connector posts the
  bare message. Knative retries 5xx/429 and drops other answers; a 2xx with ce-* headers would be a reply event.

The W3C trace context travels with each contract of a message (its submitting request's); a message that
carries none takes the one of its delivery (`traceparent` header, or the CloudEvent's extension).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections import Counter
from collections.abc import Iterator, Mapping

from aws_lambda_powertools.utilities.data_classes.rabbit_mq_event import RabbitMQEvent
from starlette.responses import Response

from .metrics import SCANS
from .models import PoisonMessage, ScanItem, ScanMessage
from .scanning import Scanner, ScanOutcome

log = logging.getLogger(__name__)

TRACE_HEADERS = ("traceparent", "tracestate")
CLOUDEVENTS_JSON = "application/cloudevents+json"
RETRY_AFTER_S = 5


class BatchNotSettled(Exception):
    """Raised to Lambda to get the whole batch delivered again: there is no other way to return a message."""


def scan_items(body: bytes, headers: Mapping[str, str]) -> list[ScanItem]:
    """The contracts of a delivered message, with the delivery's trace context where they carry none."""
    items = ScanMessage.from_body(body).contracts
    if traceparent := headers.get("traceparent"):
        return [item if item.traceparent else item.model_copy(update={"traceparent": traceparent}) for item in items]
    return list(items)


# Amazon MQ (RabbitMQ) → Lambda

def rabbitmq_event_messages(event: dict) -> Iterator[tuple[bytes, dict[str, str]]]:
    """Messages of an Amazon MQ (RabbitMQ) Lambda event, every queue's, in order."""
    for messages in RabbitMQEvent(event).rmq_messages_by_queue.values():
        for message in messages:
            headers = (message.basic_properties.get("headers") or {}) if message.get("basicProperties") else {}
            yield _message_body(message.get("data") or ""), {k: _header_text(v) for k, v in headers.items()}


async def scan_rabbitmq_event(event: dict, scanner: Scanner, deadline: float) -> dict:
    """Settle every contract of the batch, all at once; what cannot start before `deadline` (the invocation's
    time, less a margin) is deferred to the recheck queue rather than waited for.

    A poison message is logged and dropped with the rest settled: failing the batch would bring it back forever.
    Only a failure to settle (a dependency down) fails the batch; the contracts already settled come back with
    it and are skipped, since settling is idempotent.
    """
    messages = list(rabbitmq_event_messages(event))
    items, poison = [], 0
    for body, headers in messages:
        try:
            items.extend(scan_items(body, headers))
        except PoisonMessage:
            poison += 1
            log.error("dropped a poison message (Lambda cannot dead-letter it)", extra={"body": _excerpt(body)})
    if poison:
        SCANS.labels(ScanOutcome.POISON).inc(poison)
    try:
        report = await scanner.scan(items, deadline=deadline)
    except Exception as exc:
        log.exception("settling the batch failed; it will be delivered again")
        raise BatchNotSettled(f"the batch of {len(messages)} messages could not be settled now ({type(exc).__name__})"
                              ) from None
    return {"settled": len(messages), "outcomes": dict(Counter({str(k): v for k, v in report.items()})),
            "poison": poison}


def _message_body(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return data.encode()  # not base64 after all: settling will find it is no scan message


def _header_text(value) -> str:
    # Amazon MQ hands string AMQP headers over as {"bytes": [..]}.
    if isinstance(value, dict) and isinstance(value.get("bytes"), list):
        return bytes(value["bytes"]).decode("utf-8", "replace")
    return str(value)


def _excerpt(body: bytes) -> str:
    return body[:512].decode("utf-8", "replace")


# HTTP pushes: Knative CloudEvents, the OpenFaaS RabbitMQ connector

async def settle_http_push(scanner: Scanner, headers: Mapping[str, str], body: bytes, deadline: float) -> Response:
    """Settle a pushed message; 202, or 503 to have it retried. The answer is empty and has no ce-* headers:
    Knative would take a 2xx carrying an event for a reply to deliver.

    A poison message is logged and answered 202: retrying cannot help, and once answered 2xx the sender cannot
    dead-letter it, so the log is where it stays.
    """
    message, delivery_headers = http_message(headers, body)
    try:
        items = scan_items(message, delivery_headers)
    except PoisonMessage:
        log.error("dropped a poison message", extra={"body": _excerpt(message)})
        SCANS.labels(ScanOutcome.POISON).inc()
        return Response(status_code=202, headers={"X-Scan-Disposition": "dead_letter"})
    try:
        await scanner.scan(items, deadline=deadline)
    except Exception:
        log.exception("settling a pushed message failed; its sender will deliver it again")
        return Response(status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
    return Response(status_code=202, headers={"X-Scan-Disposition": "ack"})


def http_message(headers: Mapping[str, str], body: bytes) -> tuple[bytes, dict[str, str]]:
    """The scan message and its delivery's trace headers from a pushed request (`headers` in lower case).

    The trace context is the CloudEvent's `traceparent` extension (the producer's) when there is one, else
    the request's own W3C headers.
    """
    event = _structured_event(headers, body)
    if event is not None:
        return _event_data(event), _trace_headers(event, headers)
    return body, _trace_headers({name: headers.get(f"ce-{name}") for name in TRACE_HEADERS}, headers)


def _structured_event(headers: Mapping[str, str], body: bytes) -> dict | None:
    if headers.get("content-type", "").split(";")[0].strip().lower() != CLOUDEVENTS_JSON:
        return None
    try:
        event = json.loads(body)
    except ValueError:
        return None  # then the body itself is taken as the message, and found to be poison
    return event if isinstance(event, dict) else None


def _event_data(event: dict) -> bytes:
    if "data_base64" in event:
        return _message_body(str(event["data_base64"]))
    data = event.get("data")
    if data is None:
        return b""
    return data.encode() if isinstance(data, str) else json.dumps(data).encode()


def _trace_headers(preferred: Mapping[str, object], request_headers: Mapping[str, str]) -> dict[str, str]:
    source = preferred if preferred.get("traceparent") else request_headers
    return {name: str(source[name]) for name in TRACE_HEADERS if source.get(name)}

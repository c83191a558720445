"""Each platform's delivery of scan messages, turned into (body, headers) for `contracts.settle_message`, and
the settling turned back into the answer that platform expects.

- Amazon MQ (RabbitMQ) → Lambda: base64 bodies, string headers as {"bytes": [..]}, batches without partial
  failure: every message is settled here, and the batch fails only to get back messages that could not be.
- HTTP pushes: Knative (RabbitMQ Source or Broker/Trigger) posts a CloudEvent, binary (ce-* headers, the
  message as body) or structured (application/cloudevents+json); the OpenFaaS RabbitMQ connector posts the
  bare message. Knative retries 5xx/429 and drops other answers; a 2xx with ce-* headers would be a reply event.

The W3C trace context crosses every path as `headers["traceparent"]` (and `tracestate`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.utilities.data_classes.rabbit_mq_event import RabbitMQEvent
from starlette.responses import Response

from .queue import Disposition

log = logging.getLogger(__name__)

Settle = Callable[[bytes, dict[str, str]], Disposition]
TRACE_HEADERS = ("traceparent", "tracestate")
CLOUDEVENTS_JSON = "application/cloudevents+json"
RETRY_AFTER_S = 5


class BatchNotSettled(Exception):
    """Raised to Lambda to get the whole batch delivered again: there is no other way to return a message."""


def settle_safely(settle: Settle, body: bytes, headers: dict[str, str]) -> Disposition:
    """A message whose settling raised (its dependency is down) is to be delivered again, as the consumer does."""
    try:
        return settle(body, headers)
    except Exception:
        log.exception("settling a message failed; it will be delivered again")
        return Disposition.REQUEUE


# Amazon MQ (RabbitMQ) → Lambda

def rabbitmq_event_messages(event: dict) -> Iterator[tuple[bytes, dict[str, str]]]:
    """Messages of an Amazon MQ (RabbitMQ) Lambda event, every queue's, in order."""
    for messages in RabbitMQEvent(event).rmq_messages_by_queue.values():
        for message in messages:
            headers = (message.basic_properties.get("headers") or {}) if message.get("basicProperties") else {}
            yield _message_body(message.get("data") or ""), {k: _header_text(v) for k, v in headers.items()}


def settle_rabbitmq_event(event: dict, settle: Settle, concurrency: int) -> dict:
    """Settle every message of the batch, `concurrency` at a time (one event source mapping runs one batch at
    a time, so the batch is where parallelism comes from).

    Copies of one message (a redelivery can share the batch with its original) are settled once. A poison
    message is logged and acked with the rest: failing the batch would bring it back forever. Only a message
    that could not be settled now (a dependency down) fails the batch; the messages already settled come back
    with it and are skipped, since settling is idempotent.
    """
    messages = list(rabbitmq_event_messages(event))
    distinct: dict[bytes, dict[str, str]] = {}
    for body, headers in messages:
        distinct.setdefault(body, headers)
    with ThreadPoolExecutor(max(1, min(concurrency, len(distinct))), thread_name_prefix="scan") as pool:
        dispositions = pool.map(lambda message: settle_safely(settle, *message), distinct.items())
        settled = dict(zip(distinct, dispositions, strict=True))
    for body, disposition in settled.items():
        if disposition is Disposition.DEAD_LETTER:
            log.error("dropped a poison message (Lambda cannot dead-letter it)", extra={"body": _excerpt(body)})
    outcomes = Counter(settled[body].value for body, _ in messages)
    if unsettled := outcomes[Disposition.REQUEUE.value]:
        raise BatchNotSettled(f"{unsettled} of {len(messages)} messages could not be settled now; "
                              "the batch will be delivered again")
    return {"settled": len(messages), "outcomes": dict(outcomes)}


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

def settle_http_push(settle: Settle, headers: Mapping[str, str], body: bytes) -> Response:
    """Settle a pushed message; 202, or 503 to have it retried. The answer is empty and has no ce-* headers:
    Knative would take a 2xx carrying an event for a reply to deliver.

    A poison message is logged and answered 202: retrying cannot help, and once answered 2xx the sender cannot
    dead-letter it, so the log is where it stays.
    """
    message, trace_headers = http_message(headers, body)
    disposition = settle_safely(settle, message, trace_headers)
    if disposition is Disposition.REQUEUE:
        return Response(status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
    if disposition is Disposition.DEAD_LETTER:
        log.error("dropped a poison message", extra={"body": _excerpt(message)})
    return Response(status_code=202, headers={"X-Scan-Disposition": disposition.value})


def http_message(headers: Mapping[str, str], body: bytes) -> tuple[bytes, dict[str, str]]:
    """The scan message and its trace headers from a pushed request (`headers` looked up in lower case).

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

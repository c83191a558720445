"""Turn each platform's message delivery into (body, headers) pairs for `contracts.settle_message`."""

from __future__ import annotations

import base64
from collections.abc import Iterator

from aws_lambda_powertools.utilities.data_classes.rabbit_mq_event import RabbitMQEvent


def rabbitmq_event_messages(event: dict) -> Iterator[tuple[bytes, dict[str, str]]]:
    """Messages of an Amazon MQ (RabbitMQ) Lambda event, every queue's, in order."""
    for messages in RabbitMQEvent(event).rmq_messages_by_queue.values():
        for message in messages:
            headers = (message.basic_properties.get("headers") or {}) if message.get("basicProperties") else {}
            yield base64.b64decode(message.data), {k: _header_text(v) for k, v in headers.items()}


def _header_text(value) -> str:
    # Amazon MQ hands string AMQP headers over as {"bytes": [..]}.
    if isinstance(value, dict) and isinstance(value.get("bytes"), list):
        return bytes(value["bytes"]).decode("utf-8", "replace")
    return str(value)

"""scan's HTTP endpoint: messages pushed by Knative (CloudEvents, binary and structured) and the OpenFaaS connector.

Knative retries 5xx and 429, drops other 4xx, and takes a 2xx that carries ce-* headers for a reply event.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from ethsource.invoke import request
from ethsource.scanning import Scanner
from ethsource.triggers import http_message

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"  # the structured event's, in the file
HOP_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # a transport hop's own context


def binary_mode(event: dict) -> tuple[dict[str, str], bytes]:
    """The CloudEvents HTTP binding's binary mode of a structured event: attributes as ce-* headers."""
    attributes = {name: value for name, value in event.items() if name not in ("data", "datacontenttype")}
    headers = {f"ce-{name}": str(value) for name, value in attributes.items()}
    return {**headers, "content-type": event["datacontenttype"]}, json.dumps(event["data"]).encode()


@pytest.fixture
def push(functions) -> Callable[..., httpx.Response]:
    """POST to scan's HTTP app in this process (no lifespan, so no queue consumer of its own)."""
    return lambda headers, body: request(functions.modules["scan"].app, "POST", "/", headers, body)


def message(address: str) -> bytes:
    return json.dumps({"chain_id": 1, "address": address}).encode()


JSON = {"content-type": "application/json"}


def status_of(functions, load_event, address: str) -> str:
    answer = functions.invoke("status", load_event("status-apigw-v2.json", address))
    return json.loads(answer["body"])["status"]


def submit(functions, load_event, address: str) -> None:
    assert functions.invoke("submit", load_event("submit-apigw-v2.json", address))["statusCode"] == 202


def assert_settled_answer(response) -> None:
    assert response.status_code == 202
    assert response.content == b""
    assert not [name for name in response.headers if name.lower().startswith("ce-")]  # else: a reply event


def test_a_binary_mode_cloudevent_is_settled_and_answered_202_without_a_reply(functions, load_event, push,
                                                                             fresh_address):
    address = fresh_address()
    submit(functions, load_event, address)
    headers, body = binary_mode(load_event("scan-cloudevent.json", address))
    response = push(headers, body)
    assert_settled_answer(response)
    assert status_of(functions, load_event, address) == "SUCCESS"


def test_a_structured_mode_cloudevent_is_settled(functions, load_event, push, fresh_address):
    address = fresh_address()
    submit(functions, load_event, address)
    event = load_event("scan-cloudevent.json", address)
    response = push({"content-type": "application/cloudevents+json; charset=utf-8"}, json.dumps(event).encode())
    assert_settled_answer(response)
    assert status_of(functions, load_event, address) == "SUCCESS"


def test_the_openfaas_connectors_plain_post_of_the_message_is_settled(functions, load_event, push,
                                                                      fresh_address):
    address = fresh_address()
    submit(functions, load_event, address)
    response = push(JSON, message(address))
    assert_settled_answer(response)
    assert status_of(functions, load_event, address) == "SUCCESS"


def test_a_poison_message_is_answered_2xx_so_it_is_not_retried(functions, push):
    response = push({**JSON, "ce-specversion": "1.0", "ce-id": "1", "ce-type": "dev.knative.rabbitmq.event",
                     "ce-source": "/q"}, b'{"chain_id": 1, "address": "0x1234"}')
    assert_settled_answer(response)
    assert response.headers["x-scan-disposition"] == "dead_letter"


def test_with_the_database_down_a_pushed_scan_is_deferred_through_the_recheck_queue(functions, load_event, push,
                                                                                     fresh_address, database_down):
    address = fresh_address()
    submit(functions, load_event, address)
    with database_down():  # no budget can be had: the scan waits in RabbitMQ, and the push is done
        assert_settled_answer(push(JSON, message(address)))
    assert status_of(functions, load_event, address) == "CREATED"
    assert_settled_answer(push(JSON, message(address)))
    assert status_of(functions, load_event, address) == "SUCCESS"


def test_a_push_that_cannot_be_settled_or_deferred_is_answered_503_so_knative_retries(functions, load_event, push,
                                                                                      fresh_address, database_down):
    address = fresh_address()
    submit(functions, load_event, address)
    with database_down(broker=True):
        response = push(JSON, message(address))
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert status_of(functions, load_event, address) == "CREATED"  # nothing taken: the retry will settle it
    assert_settled_answer(push(JSON, message(address)))
    assert status_of(functions, load_event, address) == "SUCCESS"


def test_the_trace_context_reaches_the_scan_from_every_push(functions, load_event, push, fresh_address,
                                                            monkeypatch):
    seen, real = [], Scanner.scan

    async def spy(self, items, **kwargs):
        seen.append(items[0].traceparent)
        return await real(self, items, **kwargs)

    monkeypatch.setattr(Scanner, "scan", spy)
    event = load_event("scan-cloudevent.json", fresh_address())
    headers, body = binary_mode(event)
    push({**headers, "traceparent": HOP_TRACEPARENT}, body)
    push({"content-type": "application/cloudevents+json"}, json.dumps(event).encode())
    push({**JSON, "traceparent": HOP_TRACEPARENT, "tracestate": "ethsource=1"}, body)
    assert seen == [TRACEPARENT, TRACEPARENT, HOP_TRACEPARENT]


@pytest.mark.parametrize("event, message", [
    ({"data_base64": "eyJhIjogMX0="}, b'{"a": 1}'),
    ({"data": "plain text"}, b"plain text"),
    ({}, b""),
])
def test_structured_event_data_in_each_encoding_becomes_the_message(event, message):
    envelope = {"specversion": "1.0", "id": "1", "type": "t", "source": "/s", **event}
    body, _ = http_message({"content-type": "application/cloudevents+json"}, json.dumps(envelope).encode())
    assert body == message


def test_a_structured_event_that_is_not_json_is_taken_as_the_message_itself():
    assert http_message({"content-type": "application/cloudevents+json"}, b"{oops") == (b"{oops", {})

"""scan's Lambda handler on Amazon MQ (RabbitMQ) events: base64 bodies, byte-array headers, batches, redeliveries."""

from __future__ import annotations

import json
import threading

import pytest

from ethsource import contracts
from ethsource.queue import Disposition
from ethsource.triggers import BatchNotSettled, rabbitmq_event_messages, settle_rabbitmq_event

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"  # the first message's, in the file


def submit(functions, load_event, address: str) -> None:
    assert functions.invoke("submit", load_event("apigw-v2-submit.json", address))["statusCode"] == 202


def row(db, address: str) -> tuple:
    with db.cursor() as cursor:
        cursor.execute("SELECT status, attempts, updated_at FROM contracts WHERE address = %s", (address,))
        return cursor.fetchone()


def test_messages_come_out_decoded_with_their_byte_array_headers_as_text(load_event):
    a, b = "0x" + "a" * 40, "0x" + "b" * 40
    messages = list(rabbitmq_event_messages(load_event("amazonmq-batch.json", a, b)))
    assert [json.loads(body).get("address") for body, _ in messages] == [a, "0x1234", b, a]
    assert messages[0][1] == {"traceparent": TRACEPARENT, "x-attempt": "1"}
    assert messages[1][1] == {}  # no headers at all (null in the event)


def test_a_batch_is_settled_message_by_message_and_a_poison_one_does_not_fail_it(functions, load_event,
                                                                                 fresh_address, db):
    a, b = fresh_address(), fresh_address()
    submit(functions, load_event, a)
    submit(functions, load_event, b)
    calls = functions.fake_calls()

    answer = functions.invoke("scan", load_event("amazonmq-batch.json", a, b))

    # a, the poison message, b, and a's redelivered copy: each acked or dropped, none left for a retry
    assert answer == {"settled": 4, "outcomes": {"ack": 3, "dead_letter": 1}}
    assert row(db, a)[:2] == ("SUCCESS", 1) and row(db, b)[:2] == ("SUCCESS", 1)
    assert functions.fake_calls() - calls == 2  # the copy of a was not scanned twice


def test_a_redelivered_batch_changes_nothing_and_calls_etherscan_no_more(functions, load_event, fresh_address, db):
    a, b = fresh_address(), fresh_address()
    submit(functions, load_event, a)
    submit(functions, load_event, b)
    event = load_event("amazonmq-batch.json", a, b)
    functions.invoke("scan", event)
    settled = row(db, a), row(db, b)
    calls = functions.fake_calls()

    again = functions.invoke("scan", event)

    assert again == {"settled": 4, "outcomes": {"ack": 3, "dead_letter": 1}}
    assert (row(db, a), row(db, b)) == settled
    assert functions.fake_calls() == calls


def test_with_the_database_down_the_batch_fails_and_settles_when_delivered_again(functions, load_event,
                                                                                  fresh_address, db, database_down):
    a, b = fresh_address(), fresh_address()
    submit(functions, load_event, a)
    submit(functions, load_event, b)
    event = load_event("amazonmq-batch.json", a, b)

    with database_down(), pytest.raises(BatchNotSettled, match="3 of 4 messages could not be settled now"):
        functions.invoke("scan", event)  # the poison message needs no database: it is the 4th

    assert row(db, a)[0] == row(db, b)[0] == "CREATED"
    assert functions.invoke("scan", event)["outcomes"] == {"ack": 3, "dead_letter": 1}
    assert row(db, a)[:2] == row(db, b)[:2] == ("SUCCESS", 1)


def test_one_unsettled_message_fails_the_batch_only_after_the_others_are_settled():
    settled, lock = [], threading.Lock()

    def settle(body: bytes, headers: dict) -> Disposition:
        if body == b"down":
            raise ConnectionError("database unreachable")
        with lock:
            settled.append(body)
        return Disposition.ACK

    event = {"eventSource": "aws:rmq", "rmqMessagesByQueue": {"q::/": [
        {"basicProperties": {"headers": None}, "redelivered": False, "data": data}
        for data in ("b25l", "ZG93bg==", "dHdv")]}}  # "one", "down", "two"
    with pytest.raises(BatchNotSettled, match="1 of 3"):
        settle_rabbitmq_event(event, settle, concurrency=2)
    assert sorted(settled) == [b"one", b"two"]


def test_the_trace_context_of_the_amazon_mq_headers_reaches_settling(functions, load_event, fresh_address,
                                                                     monkeypatch):
    seen, real = {}, contracts.settle_message

    def spy(body: bytes, headers: dict | None = None) -> Disposition:
        seen[body] = headers
        return real(body, headers)

    monkeypatch.setattr(contracts, "settle_message", spy)
    a, b = fresh_address(), fresh_address()
    functions.invoke("scan", load_event("amazonmq-batch.json", a, b))
    assert seen[json.dumps({"chain_id": 1, "address": a}).encode()]["traceparent"] == TRACEPARENT

"""scan's Lambda handler on Amazon MQ (RabbitMQ) events: base64 bodies, byte-array headers, batches, redeliveries."""

from __future__ import annotations

import asyncio
import json

import pytest

from ethsource.scanning import Scanner
from ethsource.triggers import BatchNotSettled, rabbitmq_event_messages, scan_rabbitmq_event

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"  # the first message's, in the file


def submit(functions, load_event, address: str) -> None:
    assert functions.invoke("submit", load_event("submit-apigw-v2.json", address))["statusCode"] == 202


def row(db, address: str) -> tuple:
    with db.cursor() as cursor:
        cursor.execute("SELECT status, attempts, updated_at FROM contracts WHERE address = %s", (address,))
        return cursor.fetchone()


def test_messages_come_out_decoded_with_their_byte_array_headers_as_text(load_event):
    a, b = "0x" + "a" * 40, "0x" + "b" * 40
    messages = list(rabbitmq_event_messages(load_event("scan-amazonmq-batch.json", a, b)))
    assert [json.loads(body).get("address") for body, _ in messages] == [a, "0x1234", b, a]
    assert messages[0][1] == {"traceparent": TRACEPARENT, "x-attempt": "1"}
    assert messages[1][1] == {}  # no headers at all (null in the event)


def test_a_batch_is_settled_whole_and_a_poison_message_does_not_fail_it(functions, load_event, fresh_address, db):
    a, b = fresh_address(), fresh_address()
    submit(functions, load_event, a)
    submit(functions, load_event, b)
    calls = functions.fake_calls()

    answer = functions.invoke("scan", load_event("scan-amazonmq-batch.json", a, b))

    # a, the poison message, b, and a's redelivered copy: a and b scanned once, the poison one dropped
    assert answer == {"settled": 4, "outcomes": {"success": 2}, "poison": 1}
    assert row(db, a)[:2] == ("SUCCESS", 1) and row(db, b)[:2] == ("SUCCESS", 1)
    assert functions.fake_calls() - calls == 2  # the copy of a was not scanned twice


def test_a_redelivered_batch_changes_nothing_and_calls_etherscan_no_more(functions, load_event, fresh_address, db):
    a, b = fresh_address(), fresh_address()
    submit(functions, load_event, a)
    submit(functions, load_event, b)
    event = load_event("scan-amazonmq-batch.json", a, b)
    functions.invoke("scan", event)
    settled = row(db, a), row(db, b)
    calls = functions.fake_calls()

    again = functions.invoke("scan", event)

    assert again == {"settled": 4, "outcomes": {"skipped": 2}, "poison": 1}
    assert (row(db, a), row(db, b)) == settled
    assert functions.fake_calls() == calls


def test_with_the_database_down_the_scans_are_deferred_and_settle_when_they_come_back(functions, load_event,
                                                                                        fresh_address, db,
                                                                                        database_down):
    a, b = fresh_address(), fresh_address()
    submit(functions, load_event, a)
    submit(functions, load_event, b)
    event = load_event("scan-amazonmq-batch.json", a, b)

    with database_down():  # no budget can be had: nothing is called, and both wait in the recheck queue
        assert functions.invoke("scan", event)["outcomes"] == {"deferred": 2}

    assert row(db, a)[0] == row(db, b)[0] == "CREATED"
    assert functions.invoke("scan", event)["outcomes"] == {"success": 2}
    assert row(db, a)[:2] == row(db, b)[:2] == ("SUCCESS", 1)


def test_a_batch_whose_settling_fails_is_raised_to_lambda_to_be_delivered_again():
    class FailingScanner:
        async def scan(self, items, *, deadline):
            raise ConnectionError("database unreachable")

    event = {"eventSource": "aws:rmq", "rmqMessagesByQueue": {"q::/": [
        {"basicProperties": {"headers": None}, "redelivered": False,
         "data": "eyJjaGFpbl9pZCI6IDEsICJhZGRyZXNzIjogIjB4ZGFjMTdmOTU4ZDJlZTUyM2EyMjA2MjA2OTk0NTk3YzEzZDgzMWVjNyJ9"}]}}
    loop = asyncio.new_event_loop()  # not asyncio.run: it would unset the loop Mangum's handlers use here
    with pytest.raises(BatchNotSettled, match="ConnectionError"):
        loop.run_until_complete(scan_rabbitmq_event(event, FailingScanner(), deadline=0))
    loop.close()


def test_the_trace_context_of_the_amazon_mq_headers_reaches_the_scans(functions, load_event, fresh_address,
                                                                       monkeypatch):
    seen, real = {}, Scanner.scan

    async def spy(self, items, **kwargs):
        seen.update({item.address: item.traceparent for item in items})
        return await real(self, items, **kwargs)

    monkeypatch.setattr(Scanner, "scan", spy)
    a, b = fresh_address(), fresh_address()
    functions.invoke("scan", load_event("scan-amazonmq-batch.json", a, b))
    assert seen[a] == TRACEPARENT  # its message carries no trace of its own: its delivery's is taken

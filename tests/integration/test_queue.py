"""The queue layer against the real RabbitMQ: confirmed persistent publishes, ack only after settling."""

from __future__ import annotations

import threading
import time
import uuid

import pika
import pytest

from ethsource.queue import Consumer, Disposition, Publisher, Topology, dead_letter_queue

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture
def queue_name():
    name = f"ethsource.test.queue.{uuid.uuid4().hex[:8]}"
    yield name
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    channel.queue_delete(name)
    channel.queue_delete(dead_letter_queue(name))
    connection.close()


def depth(queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    count = connection.channel().queue_declare(queue, passive=True).method.message_count
    connection.close()
    return count


def consume(queue: str, handle, until, timeout: float = 15.0) -> None:
    consumer = Consumer(URL, Topology(queue), handle, concurrency=4)
    consumer.start()
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        time.sleep(0.05)
    consumer.stop()


def test_published_messages_are_durable_and_persistent(queue_name):
    publisher = Publisher(URL, Topology(queue_name))
    for i in range(5):
        publisher.publish(f'{{"n": {i}}}'.encode())
    publisher.close()
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    assert channel.queue_declare(queue_name, passive=True).method.message_count == 5
    _, properties, body = channel.basic_get(queue_name, auto_ack=False)
    assert properties.delivery_mode == 2 and body == b'{"n": 0}'
    connection.close()


def test_every_message_is_settled_once_and_acked(queue_name):
    publisher = Publisher(URL, Topology(queue_name))
    for i in range(50):
        publisher.publish(str(i).encode())
    seen, lock = [], threading.Lock()

    def handle(body, headers):
        with lock:
            seen.append(int(body))
        return Disposition.ACK

    consume(queue_name, handle, until=lambda: len(seen) >= 50)
    assert sorted(seen) == list(range(50))
    assert depth(queue_name) == 0


def test_a_message_whose_settling_fails_is_delivered_again_not_lost(queue_name):
    Publisher(URL, Topology(queue_name)).publish(b"flaky")
    calls = []

    def handle(body, headers):
        calls.append(body)
        if len(calls) == 1:
            raise RuntimeError("database down")
        return Disposition.ACK

    consume(queue_name, handle, until=lambda: len(calls) >= 2)
    assert calls == [b"flaky", b"flaky"]
    assert depth(queue_name) == 0


def test_a_dead_lettered_message_is_parked_in_the_dead_letter_queue(queue_name):
    Publisher(URL, Topology(queue_name)).publish(b"poison")
    handled = []
    consume(queue_name, lambda body, headers: handled.append(body) or Disposition.DEAD_LETTER,
            until=lambda: depth(dead_letter_queue(queue_name)) == 1)
    assert handled == [b"poison"]
    assert depth(queue_name) == 0 and depth(dead_letter_queue(queue_name)) == 1


def test_stopping_finishes_the_messages_in_hand_and_loses_none(queue_name):
    publisher = Publisher(URL, Topology(queue_name))
    for i in range(20):
        publisher.publish(str(i).encode())
    done = []

    def slow(body, headers):
        time.sleep(0.2)
        done.append(int(body))
        return Disposition.ACK

    consume(queue_name, slow, until=lambda: len(done) >= 3)  # stop while messages are in hand
    assert depth(queue_name) == 20 - len(done)  # what was finished was acked, the rest is still queued
    assert len(set(done)) == len(done)

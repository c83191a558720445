"""The queue layer against the real RabbitMQ: committed persistent publishes, a message per batch of contracts,
delay queues, and a consumer that settles only what it is told to and loses nothing it was not told to settle."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pika
import pytest

from ethsource.models import ScanItem, ScanMessage
from ethsource.queue import MESSAGE_MAX_CONTRACTS, Consumer, Disposition, Outgoing, Publisher, Topology
from tests.conftest import wait_until

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture
def topology():
    topology = Topology(f"ethsource.test.queue.{uuid.uuid4().hex[:8]}", retries=1)
    yield topology
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    for queue in topology.all_queues:
        connection.channel().queue_delete(queue)
    connection.close()


def depth(queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    count = connection.channel().queue_declare(queue, passive=True).method.message_count
    connection.close()
    return count


def items(count: int) -> list[ScanItem]:
    return [ScanItem(chain_id=1, address="0x" + f"{n:040x}") for n in range(count)]


class Recorder:
    """A consumer's deliveries, kept; each settled as `disposition` says (None: left unsettled)."""

    def __init__(self, topology: Topology, disposition=Disposition.ACK, prefetch: int = 10):
        self.deliveries, self._lock = [], threading.Lock()
        self.disposition, self.prefetch = disposition, prefetch
        self.consumer = Consumer(URL, topology, self._deliver, lambda: self.prefetch)

    def _deliver(self, delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)
        if self.disposition is not None:
            self.consumer.settle([(delivery, self.disposition)])

    def __enter__(self) -> Recorder:
        self.consumer.start()
        assert self.consumer.connected.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.consumer.stop()


def test_contracts_go_as_persistent_messages_of_at_most_100_in_one_commit(topology):
    publisher = Publisher(URL, topology)
    publisher.publish([Outgoing(items(2 * MESSAGE_MAX_CONTRACTS + 50))])
    publisher.close()
    assert depth(topology.queue) == 3
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    _, properties, body = connection.channel().basic_get(topology.queue, auto_ack=False)
    connection.close()
    assert properties.delivery_mode == 2 and properties.message_id
    assert len(ScanMessage.from_body(body).contracts) == MESSAGE_MAX_CONTRACTS


def test_a_message_for_a_delay_queue_comes_back_to_work_after_its_delay(topology):
    publisher = Publisher(URL, topology)
    publisher.publish([Outgoing(items(1), topology.retry_queue(1), delay_s=0.3)])
    assert depth(topology.retry_queue(1)) == 1 and depth(topology.queue) == 0
    wait_until(lambda: depth(topology.queue) == 1, 10, "the message expired back to the work queue")
    assert depth(topology.retry_queue(1)) == 0


def test_every_message_is_delivered_once_and_acked(topology):
    publisher = Publisher(URL, topology)
    for n in range(30):
        publisher.publish_raw(topology.queue, str(n).encode())
    with Recorder(topology) as recorder:
        wait_until(lambda: len(recorder.deliveries) == 30, 15, "every message is delivered")
    assert sorted(int(d.body) for d in recorder.deliveries) == list(range(30))
    assert depth(topology.queue) == 0


def test_messages_not_settled_go_back_to_the_queue_when_the_consumer_stops(topology):
    publisher = Publisher(URL, topology)
    for n in range(5):
        publisher.publish_raw(topology.queue, str(n).encode())
    with Recorder(topology, disposition=None) as recorder:
        wait_until(lambda: len(recorder.deliveries) == 5, 15, "every message is in hand")
    wait_until(lambda: depth(topology.queue) == 5, 10, "the unsettled messages are back")


def test_a_requeued_message_is_delivered_again_and_a_dead_lettered_one_is_parked(topology):
    publisher = Publisher(URL, topology)
    publisher.publish_raw(topology.queue, b"flaky")
    with Recorder(topology, disposition=Disposition.REQUEUE) as recorder:
        wait_until(lambda: len(recorder.deliveries) >= 2, 15, "the requeued message comes back")
        recorder.disposition = Disposition.DEAD_LETTER
        wait_until(lambda: depth(topology.dead_letter_queue) == 1, 15, "the message is parked")
    assert {d.body for d in recorder.deliveries} == {b"flaky"}
    assert depth(topology.queue) == 0


def test_the_broker_sends_ahead_only_as_many_messages_as_the_prefetch_asks(topology):
    publisher = Publisher(URL, topology)
    for n in range(10):
        publisher.publish_raw(topology.queue, json.dumps(n).encode())
    with Recorder(topology, disposition=None, prefetch=3) as recorder:
        wait_until(lambda: len(recorder.deliveries) == 3, 15, "three messages are in hand")
        # The broker counts as ready only what it has not sent: seven ready, so it sent those three and no more.
        assert depth(topology.queue) == 7
        assert len(recorder.deliveries) == 3


def test_a_new_prefetch_holds_while_consuming_and_messages_in_hand_stay_in_hand(topology):
    """A scanner that gets a key takes more; one that loses its key takes less (the broker keeps a consumer's
    prefetch as it was at its start: the consumer starts again under the new one)."""
    publisher = Publisher(URL, topology)
    for n in range(20):
        publisher.publish_raw(topology.queue, json.dumps(n).encode())
    with Recorder(topology, disposition=None, prefetch=2) as recorder:
        wait_until(lambda: len(recorder.deliveries) == 2, 15, "two messages are in hand")
        recorder.prefetch = 8
        # The two in hand stay there, and do not count against the new consumer's eight.
        wait_until(lambda: depth(topology.queue) == 10, 15, "the broker sends up to the new prefetch")
        assert len({d.body for d in recorder.deliveries}) == 10 == len(recorder.deliveries)
        recorder.consumer.settle([(d, Disposition.ACK) for d in recorder.deliveries])
        wait_until(lambda: len(recorder.deliveries) == 18, 15, "the consumer of eight takes eight more")
        recorder.prefetch = 1  # eight in hand: the consumer starts again and takes one more, no more
        wait_until(lambda: len(recorder.deliveries) == 19, 15, "one more is in hand")
        time.sleep(0.5)
        assert depth(topology.queue) == 1 and len(recorder.deliveries) == 19

"""An in-process scan consumer with settings of its own, for tests that need to vary what the scanner sees."""

from __future__ import annotations

import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

import pika

from ethsource import contracts
from ethsource.addresses import to_checksum
from ethsource.config import get_settings
from ethsource.queue import Consumer, Topology
from ethsource_local.fake_etherscan import FakeConfig, running, shape_of
from ethsource_local.fake_etherscan import stats as fake_stats


@dataclass
class Scanner:
    fake_url: str
    topology: Topology

    def stats(self) -> dict:
        return fake_stats(self.fake_url)

    def submit_and_wait(self, addresses: list[str], timeout: float = 120.0) -> dict[str, dict]:
        for address in addresses:
            contracts.submit(1, address)
        return self.wait(addresses, timeout)

    def wait(self, addresses: list[str], timeout: float = 120.0) -> dict[str, dict]:
        """The resources of the contracts once all are SUCCESS or ERROR."""
        deadline = time.monotonic() + timeout
        pending = set(addresses)
        results = {}
        while pending and time.monotonic() < deadline:
            for address in list(pending):
                contract = contracts.get(1, address)
                if contract.status in ("SUCCESS", "ERROR"):
                    results[address] = contract.model_dump(mode="json")
                    pending.discard(address)
            time.sleep(0.1)
        assert not pending, f"{len(pending)} contracts never settled"
        return results

    def depth(self) -> dict[str, int]:
        connection = pika.BlockingConnection(pika.URLParameters(get_settings().rabbitmq_url))
        channel = connection.channel()
        counts = {q: channel.queue_declare(q, passive=True).method.message_count for q in self.topology.all_queues}
        connection.close()
        return counts


@contextmanager
def configured(service_env, **settings):
    """The library in this process reads these settings (over the test run's) until the block ends."""
    saved = dict(os.environ)
    os.environ.update({**service_env, **settings})
    contracts.reload_settings()
    try:
        yield get_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        contracts.reload_settings()


@contextmanager
def own_queue(service_env, fake_url: str, **settings):
    """Settings with a scan queue of their own and the given fake; the queues are deleted afterwards."""
    queue = f"{service_env['SCAN_QUEUE']}.{uuid.uuid4().hex[:6]}"
    with configured(service_env, SCAN_QUEUE=queue, ETHERSCAN_API_URL=fake_url, **settings) as effective:
        topology = Topology.from_settings(effective)
        connection = pika.BlockingConnection(pika.URLParameters(effective.rabbitmq_url))
        topology.declare(connection.channel())
        try:
            yield effective, Scanner(fake_url, topology)
        finally:
            for name in topology.all_queues:
                connection.channel().queue_delete(name)
            connection.close()


@contextmanager
def scanner(service_env, db, fake: FakeConfig, **settings):
    """A scan consumer in this process with the given settings, against a fake of its own and a queue of its own."""
    with running(fake) as fake_url, own_queue(service_env, fake_url, SCAN_CONCURRENCY="32", **settings) as (
            effective, scan):
        consumer = Consumer(effective.rabbitmq_url, scan.topology, contracts.settle_message, 32)
        consumer.start()
        try:
            assert consumer.connected.wait(10)
            yield scan
        finally:
            consumer.stop()


def fresh(shape: str, count: int) -> list[str]:
    """Random addresses of one shape, so no other test or run has seen them."""
    found = []
    while len(found) < count:
        address = to_checksum("0x" + os.urandom(20).hex())
        if shape_of(address) == shape:
            found.append(address)
    return found



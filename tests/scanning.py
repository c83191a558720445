"""A scanner of a test's own: `ethsource serve scan` with settings of its own, the fake explorers and a queue of
its own, for tests that vary what the scanner sees; submissions go through the library in this process."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pika
from prometheus_client.parser import text_string_to_metric_families

from ethsource import lookup, services
from ethsource.addresses import to_checksum
from ethsource.config import Settings
from ethsource.queue import Topology
from ethsource.submission import Submission
from ethsource_local.fake_etherscan import FakeConfig, explorer_urls, running, shape_of
from ethsource_local.fake_etherscan import stats as fake_stats
from ethsource_local.processes import Process, started
from tests.conftest import answers, free_port_block, serving, wait_until


def close_scanner(loop: asyncio.AbstractEventLoop) -> None:
    """Close the library's scanner built on `loop` (its HTTP sessions, its budgets' keys), then the loop."""
    async def closing():
        await services.scan_services().close()
    loop.run_until_complete(closing())
    loop.close()


@dataclass
class Scan:
    fake_url: str
    topology: Topology
    port: int | None = None  # the scanner's, when one serves

    def stats(self) -> dict:
        return fake_stats(self.fake_url)

    def submit(self, addresses: list[str], chain_id: int = 1) -> list[bool]:
        """Submitted in one batch, as POST /contracts/batch does; whether each was queued."""
        results = services.services().submitter.submit_many([Submission(chain_id, a) for a in addresses])
        return [queued for _, queued in results]

    def submit_and_wait(self, addresses: list[str], timeout: float = 120.0) -> dict[str, dict]:
        self.submit(addresses)
        return self.wait(addresses, timeout)

    def wait(self, addresses: list[str], timeout: float = 120.0) -> dict[str, dict]:
        """The resources of the contracts once all are SUCCESS or ERROR."""
        results: dict[str, dict] = {}

        def settled() -> bool:
            pending = [(1, a) for a in addresses if a not in results]
            for contract in lookup.get_many(services.services().store, pending):
                if contract.status in ("SUCCESS", "ERROR"):
                    results[contract.address] = contract.model_dump(mode="json")
            return len(results) == len(addresses)

        wait_until(settled, timeout, f"all of {len(addresses)} contracts settled")
        return results

    def depth(self) -> dict[str, int]:
        connection = pika.BlockingConnection(pika.URLParameters(services.services().settings.rabbitmq_url))
        channel = connection.channel()
        counts = {q: channel.queue_declare(q, passive=True).method.message_count for q in self.topology.all_queues}
        connection.close()
        return counts

    def metric(self, name: str, **labels) -> float:
        """A sample of the scanner's /metrics (0 when it has none yet)."""
        return metric(self.port, name, **labels)


def metric(port: int, name: str, **labels) -> float:
    """A sample of the /metrics of the function served on `port` (0 when it has none yet)."""
    families = text_string_to_metric_families(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
    return sum(sample.value for family in families for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


@contextmanager
def configured(service_env, **settings) -> Iterator[Settings]:
    """The library in this process reads these settings (over the test run's) until the block ends."""
    saved = dict(os.environ)
    os.environ.update({**service_env, **settings})
    services.forget()
    try:
        yield services.services().settings
    finally:
        os.environ.clear()
        os.environ.update(saved)
        services.forget()


@contextmanager
def fake_apart(keys: tuple[str, ...], rate: float) -> Iterator[str]:
    """The fake explorers in a process of their own, enforcing `keys` × `rate`; yields their Etherscan URL.

    For tests that count calls per second: a fake in this process stamps each call when its thread gets the GIL,
    and late in a long run this process has many threads, so a call could be counted tens of milliseconds after
    it arrived (the budget leaves 31 ms of slack a second).
    """
    port = free_port_block(1)
    process = Process("fake explorers", [sys.executable, "-m", "ethsource_local.fake_etherscan", "--port", str(port),
                                         "--api-keys", ",".join(keys), "--rate-limit", str(rate)])
    root = f"http://127.0.0.1:{port}"
    with started(process, lambda: answers(f"{root}/_fake/stats"), 60, "it answers"):
        yield f"{root}/v2/api"


@contextmanager
def own_queue(service_env, fake_url: str, **settings) -> Iterator[tuple[dict[str, str], Scan]]:
    """Settings with a scan queue of their own and the given fake, for this process and the scanners it starts;
    the queues are deleted afterwards."""
    env = {**service_env, "SCAN_QUEUE": f"{service_env['SCAN_QUEUE']}.{uuid.uuid4().hex[:6]}",
           **explorer_urls(fake_url), "ETHERSCAN_API_KEYS": "", **settings}
    with configured(env) as effective:
        topology = Topology.from_settings(effective)
        connection = pika.BlockingConnection(pika.URLParameters(effective.rabbitmq_url))
        topology.declare(connection.channel())
        try:
            yield env, Scan(fake_url, topology)
        finally:
            for name in topology.all_queues:
                connection.channel().queue_delete(name)
            connection.close()


@contextmanager
def scanner(service_env, db, fake: FakeConfig, **settings) -> Iterator[Scan]:
    """`ethsource serve scan` consuming a queue of its own against a fake of its own, with the given settings."""
    with running(fake) as fake_url, scanning_with(service_env, fake_url, **settings) as scan:
        yield scan


@contextmanager
def budget_scanner(service_env, keys: tuple[str, ...], rate: float, **settings) -> Iterator[Scan]:
    """The same with Etherscan's `keys` at `rate`, counted by a fake in a process of its own (see fake_apart)."""
    with fake_apart(keys, rate) as fake_url, scanning_with(service_env, fake_url, ETHERSCAN_API_KEYS=",".join(keys),
                                                           ETHERSCAN_RATE_LIMIT=str(rate), **settings) as scan:
        yield scan


@contextmanager
def scanning_with(service_env, fake_url: str, **settings) -> Iterator[Scan]:
    with own_queue(service_env, fake_url, **settings) as (env, scan):
        with serving("scan", {**env, "SCAN_CONSUMER": "true"}) as port:
            scan.port = port
            wait_until(lambda: consumers(scan) > 0, 30, "the scanner consumes its queue")
            yield scan


def consumers(scan: Scan) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(services.services().settings.rabbitmq_url))
    count = connection.channel().queue_declare(scan.topology.queue, passive=True).method.consumer_count
    connection.close()
    return count


def fresh(shape: str, count: int) -> list[str]:
    """Random addresses of one shape, so no other test or run has seen them."""
    found = []
    while len(found) < count:
        address = to_checksum("0x" + os.urandom(20).hex())
        if shape_of(address) == shape:
            found.append(address)
    return found

"""The function platforms' entry points, run in this process on real-shaped events against the real services.

The handler modules read their settings from the environment: the `functions` fixture sets the test run's
database, a queue of this folder's own (no running scanner consumes it, so a message settles only when a test
delivers it) and a fake Etherscan, clears the cached settings and clients, loads the handlers, and puts
everything back afterwards.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from types import ModuleType

import httpx
import pika
import pytest

from ethsource import services
from ethsource.invoke import LocalContext
from ethsource.serving import FUNCTIONS, load
from ethsource_local.fake_etherscan import FakeConfig, address_with_shape, explorer_urls, running
from tests.conftest import EVENTS

# The addresses the event files carry, in the order `load_event` replaces them.
SAMPLE_ADDRESSES = ("0xdAC17F958D2ee523a2206206994597C13D831ec7", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")


@pytest.fixture(scope="session")
def load_event() -> Callable[..., dict]:
    """`load_event(name, *addresses)`: local/events/<name> with its sample addresses replaced by `addresses`,
    in the JSON and inside the base64 bodies of Amazon MQ messages."""

    def load(name: str, *addresses: str) -> dict:
        replacements = list(zip(SAMPLE_ADDRESSES, addresses, strict=False))
        text = (EVENTS / name).read_text()
        for sample, address in replacements:
            text = text.replace(sample, address)
        event = json.loads(text)
        for messages in event.get("rmqMessagesByQueue", {}).values():
            for message in messages:
                body = base64.b64decode(message["data"]).decode()
                for sample, address in replacements:
                    body = body.replace(sample, address)
                message["data"] = base64.b64encode(body.encode()).decode()
        return event

    return load


@dataclass
class Functions:
    modules: dict[str, ModuleType]
    fake_url: str

    def invoke(self, name: str, event: dict) -> dict:
        """The function's Lambda handler on `event`, with a Lambda-like context."""
        return self.modules[name].handler(event, LocalContext(name))

    def fake_calls(self) -> int:
        return httpx.get(self.fake_url.removesuffix("/v2/api") + "/_fake/stats").json()["calls"]


@pytest.fixture(scope="package")
def functions(service_env, db) -> Iterator[Functions]:
    with running(FakeConfig()) as fake_url:
        env = {**service_env, "SCAN_QUEUE": f"{service_env['SCAN_QUEUE']}.platforms", **explorer_urls(fake_url)}
        with environment(env):
            yield Functions({name: load(name) for name in FUNCTIONS}, fake_url)
            queues = services.services().topology.all_queues
        connection = pika.BlockingConnection(pika.URLParameters(env["RABBITMQ_URL"]))
        for queue in queues:
            connection.channel().queue_delete(queue)
        connection.close()


@pytest.fixture
def database_down(functions) -> Callable[..., AbstractContextManager[None]]:
    """`with database_down():` the handlers' database refuses connections (a closed port) inside the block;
    `database_down(broker=True)`: their broker too."""

    @contextmanager
    def down(*, broker: bool = False) -> Iterator[None]:
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
            port = closed.getsockname()[1]
            changes = {"DATABASE_URL": f"mysql://root@127.0.0.1:{port}/down"}
            if broker:
                changes["RABBITMQ_URL"] = f"amqp://guest:guest@127.0.0.1:{port}/%2F"
            with environment(changes):
                yield

    return down


@contextmanager
def environment(changes: dict[str, str]) -> Iterator[None]:
    """Set `changes` (and unset ETHERSCAN_API_KEYS: the fake takes calls without a key) with fresh cached
    settings and clients; restore both afterwards."""
    saved = {name: os.environ.get(name) for name in (*changes, "ETHERSCAN_API_KEYS")}
    os.environ.pop("ETHERSCAN_API_KEYS", None)
    os.environ.update(changes)
    services.forget()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        services.forget()


_numbers = itertools.count(7000)  # far from the small n other test folders use in the same database


@pytest.fixture
def fresh_address() -> Callable[..., str]:
    """An address no other test has used, of the given fake Etherscan shape (verified by default)."""
    return lambda shape="solidity_single": address_with_shape(shape, next(_numbers))

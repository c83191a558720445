"""Fixtures shared by the test folders: a database and a queue of the run's own, the whole system running.

Every run gets its own database and queue names, so runs never collide with each other or with `make run`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pika
import pymysql
import pytest

from ethsource.config import Settings
from ethsource.db import connect_args
from ethsource.queue import Topology
from ethsource.serving import FUNCTIONS
from ethsource_local.runner import Layout
from tests.otlp_receiver import OtlpReceiver

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RUN_ID = uuid.uuid4().hex[:8]


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> object:
    """Poll `condition` until it is truthy and return it; fail, saying what was awaited, when it is not in time."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting until {what}")
        time.sleep(interval)
    return result


def free_port_block(size: int) -> int:
    """A base port with `size` free ports from it (the local layout takes consecutive ports)."""
    for _ in range(200):
        base = 20000 + int.from_bytes(os.urandom(2), "big") % 30000
        try:
            for port in range(base, base + size):
                with closing(socket.socket()) as probe:
                    probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no block of free ports")


@contextmanager
def serving(function: str, env: dict[str, str] | None = None) -> Iterator[int]:
    """`ethsource serve <function>` on a free port, with `env` over this process's environment; yields the port."""
    port = free_port_block(1)
    process = subprocess.Popen([sys.executable, "-m", "ethsource.cli", "serve", function, "--port", str(port)],
                               cwd=PROJECT_ROOT, env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/_/health")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down, then raises the signal again for its own exit: -SIGTERM from a single process
        assert process.wait(60) in (0, -signal.SIGTERM)


@pytest.fixture(scope="session")
def service_env() -> Iterator[dict[str, str]]:
    """The settings of this test run: its own database and queue; the services must be running."""
    env = {
        "DATABASE_URL": f"mysql://root@127.0.0.1:3306/ethsource_test_{RUN_ID}",
        "RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672/%2F",
        "SCAN_QUEUE": f"ethsource.test.{RUN_ID}",
        "LOG_LEVEL": "INFO",
    }
    yield env
    conn = pymysql.connect(**connect_args(env["DATABASE_URL"], with_database=False))
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS ethsource_test_{RUN_ID}")
    conn.close()
    connection = pika.BlockingConnection(pika.URLParameters(env["RABBITMQ_URL"]))
    channel = connection.channel()
    for queue in Topology.from_settings(Settings.from_env(env)).all_queues:
        channel.queue_delete(queue)
    connection.close()


@pytest.fixture(scope="session")
def db(service_env) -> Iterator[pymysql.connections.Connection]:
    from ethsource.db import migrate

    migrate(service_env["DATABASE_URL"])
    conn = pymysql.connect(**{**connect_args(service_env["DATABASE_URL"]), "autocommit": True})
    yield conn
    conn.close()


class System:
    """The whole function set started by `ethsource run`, as a user starts it."""

    def __init__(self, layout: Layout, log_path: Path):
        self.layout, self.log_path = layout, log_path
        self.base_url = f"http://127.0.0.1:{layout.gateway}"
        self.fake_url = layout.url("fake-etherscan")
        self.http = httpx.Client(base_url=self.base_url, timeout=10)

    def wait_terminal(self, address: str, chain_id: int = 1, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            resource = self.http.get(f"/contracts/{address}", params={"chain_id": chain_id}).json()
            if resource["status"] in ("SUCCESS", "ERROR") or time.monotonic() > deadline:
                return resource
            time.sleep(0.05)

    def fake_calls(self) -> int:
        return httpx.get(f"{self.fake_url}/_fake/stats").json()["calls"]


@contextmanager
def running_system(env: dict[str, str], log_path: Path) -> Iterator[System]:
    """`ethsource run` on free ports with `env`; its output (every process's logs) goes to `log_path`."""
    layout = Layout(free_port_block(len(FUNCTIONS) + 2))
    with open(log_path, "w") as log:  # a file, not a pipe: a full pipe would block the functions' logging
        process = subprocess.Popen(
            [sys.executable, "-m", "ethsource.cli", "run", "--port", str(layout.gateway),
             "--fake-latency-ms", "5"],
            cwd=PROJECT_ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, text=True,
        )
    deadline = time.monotonic() + 90
    while "ethsource is running" not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"ethsource run did not start:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.2)
    system = System(layout, log_path)
    try:
        yield system
    finally:
        system.http.close()
        process.terminate()
        assert process.wait(60) == 0, log_path.read_text()[-4000:]


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def system(service_env, db, otlp_receiver, tmp_path_factory) -> Iterator[System]:
    env = {**service_env, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200",
           "ETHERSCAN_API_KEYS": "",  # no keys: the runner starts its fake Etherscan
           # The rows other tests leave stuck on purpose are theirs: the system's sweep has no timer and takes
           # only rows over a day old, which only tests/integration/test_sweeper.py plants.
           "SWEEP_INTERVAL": "0", "SWEEP_AFTER": "86400"}
    with running_system(env, tmp_path_factory.mktemp("system") / "run.log") as system:
        yield system

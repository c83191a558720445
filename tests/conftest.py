"""Fixtures shared by the test folders: a database and a queue of the run's own, the whole system running.

Every run gets its own database and queue names, so runs never collide with each other or with `make run`.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pika
import pymysql
import pytest

from ethsource.config import Settings
from ethsource.db import connect_args
from ethsource.queue import Topology
from ethsource_local.processes import Process, answers, started, wait_until
from ethsource_local.runner import PROCESSES, Layout
from tests.otlp_receiver import OtlpReceiver

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TESTS = PROJECT_ROOT / "tests"
MARKERS = ("unit", "integration", "platforms", "deploy", "observability", "security", "faults")  # = their folders
# Every event file, those shipped for `ethsource invoke` and `sam local invoke` and those only the tests use.
EVENTS = PROJECT_ROOT / "local" / "events"
RUN_ID = uuid.uuid4().hex[:8]


def pytest_collection_modifyitems(config, items):
    """Each test gets the marker of its folder under tests/ (registered in pyproject.toml), and the fault tests,
    which stop the shared services, run last: no other test meets an outage of theirs."""
    for item in items:
        folder = Path(item.path).relative_to(TESTS).parts[0]
        if folder in MARKERS:
            item.add_marker(folder)
    items.sort(key=lambda item: item.get_closest_marker("faults") is not None)  # stable: each group keeps its order


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
    process = Process(f"serve {function}", [sys.executable, "-m", "ethsource.cli", "serve", function,
                                            "--port", str(port)], env={**os.environ, **(env or {})})
    with started(process, lambda: answers(f"http://127.0.0.1:{port}/_/health"), 60, "it answers"):
        yield port
    # uvicorn shuts down, then raises the signal again for its own exit: -SIGTERM from a single process
    assert process.returncode in (0, -signal.SIGTERM)


class StandInServer(ThreadingHTTPServer):
    """The HTTP server of the tests' stand-ins. A listen backlog of 128, not socketserver's 5: a scanner's calls
    arriving together overflowed it, and a dropped SYN is sent again only after a second, past a test's call
    timeout, so a call went unseen by the stand-in (seen with the kernel's ListenOverflows counter)."""

    request_queue_size = 128


def serve_in_thread(server: ThreadingHTTPServer) -> Callable[[], None]:
    """`server` answering from a thread of this process (a stand-in for a service); returns what stops and closes
    it, without waiting for a reply that still hangs."""
    server.block_on_close = False
    threading.Thread(target=server.serve_forever, name=server.RequestHandlerClass.__name__, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop


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

    def __init__(self, layout: Layout, process: Process):
        self.layout, self.process, self.log_path = layout, process, process.log_path
        self.base_url = f"http://127.0.0.1:{layout.gateway}"
        self.fake_url = layout.url("fake-etherscan")
        self.http = httpx.Client(base_url=self.base_url, timeout=10)

    def wait_terminal(self, address: str, chain_id: int = 1, timeout: float = 30.0) -> dict:
        def settled() -> dict | None:
            resource = self.http.get(f"/contracts/{address}", params={"chain_id": chain_id}).json()
            return resource if resource["status"] in ("SUCCESS", "ERROR") else None

        return wait_until(settled, timeout, f"{address} on chain {chain_id} is SUCCESS or ERROR")

    def fake_calls(self) -> int:
        return httpx.get(f"{self.fake_url}/_fake/stats").json()["calls"]


@contextmanager
def running_system(env: dict[str, str], log_path: Path, *, fake_latency_ms: float = 5) -> Iterator[System]:
    """`ethsource run` on free ports with `env`; its output (every process's logs) goes to `log_path`."""
    layout = Layout(free_port_block(1 + len(PROCESSES)))
    process = Process("ethsource run", [sys.executable, "-m", "ethsource.cli", "run", "--port", str(layout.gateway),
                                        "--fake-latency-ms", str(fake_latency_ms)],
                      env={**os.environ, **env}, log_path=log_path)
    system = System(layout, process)
    try:
        with started(process, lambda: "ethsource is running" in process.log_text(), 90, "it is running",
                     stop_timeout=60):
            yield system
    finally:
        system.http.close()
    assert process.returncode == 0, process.log_text()[-4000:]


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

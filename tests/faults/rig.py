"""What the fault tests (and the bad-answer tests in tests/security) share: the library in this process on
settings of the test's own, a scanner process that can be killed, an Etherscan stand-in that answers what a
test scripts, and the check every fault test ends with: nothing lost, nothing stored twice."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import pika
import pymysql

from ethsource import services
from ethsource.addresses import to_checksum
from ethsource.config import Settings
from ethsource.queue import Topology, queue_stats
from ethsource_local.fake_etherscan import getsourcecode_answer, shape_of
from ethsource_local.processes import Process
from tests.conftest import StandInServer, free_port_block, serve_in_thread, wait_until
from tests.scanning import configured

# Shapes of the fake's corpus that end SUCCESS after one Etherscan call (no proxy, not unverified).
ONE_CALL_SHAPES = ("solidity_single", "solidity_multi", "solidity_standard_json", "vyper_single",
                   "vyper_standard_json")
TERMINAL = ("SUCCESS", "ERROR")


def fresh_addresses(count: int) -> list[str]:
    """Random addresses that no other test or run has seen, each verified in the fake's corpus."""
    found = []
    while len(found) < count:
        address = to_checksum("0x" + os.urandom(20).hex())
        if shape_of(address) in ONE_CALL_SHAPES:
            found.append(address)
    return found


@contextmanager
def library_settings(service_env: dict[str, str], **overrides: str) -> Iterator[Settings]:
    """ethsource in this process (and in the processes it starts) on the test run's services with the given
    settings and a scan queue of its own, whose queues are deleted afterwards."""
    queue = f"{service_env['SCAN_QUEUE']}.{uuid.uuid4().hex[:6]}"
    with configured(service_env, SCAN_QUEUE=queue, **overrides) as settings:
        services.services().publisher.ping()  # declares the queues, so a scanner can be awaited on them
        yield settings
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    for name in Topology.from_settings(settings).all_queues:
        connection.channel().queue_delete(name)
    connection.close()


class ScannerProcess(Process):
    """The scan function as its container runs it (`ethsource serve scan` consuming the queue), on the settings
    of this process's environment: a process a test can kill."""

    def __init__(self, log_path: Path):
        self.port = free_port_block(1)
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__("scanner", [sys.executable, "-m", "ethsource.cli", "serve", "scan", "--host", "127.0.0.1",
                                     "--port", str(self.port)],
                         env={**os.environ, "SCAN_CONSUMER": "true"}, log_path=log_path)

    def start(self) -> ScannerProcess:
        settings = services.services().settings
        queue = settings.scan_queue
        super().start().wait_ready(lambda: queue_stats(settings.rabbitmq_url, [queue])[queue][1], 30,
                                   "it consumes its queue")
        return self


@contextmanager
def scanner(log_path: Path) -> Iterator[ScannerProcess]:
    process = ScannerProcess(log_path)
    try:
        yield process.start()
    finally:
        process.stop()


@dataclass(frozen=True)
class Reply:
    """One HTTP answer of the Etherscan stand-in; `hang_s` delays it (past the client's timeout, a timeout)."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    hang_s: float = 0.0


class ScriptedEtherscan:
    """An HTTP server in a thread playing Etherscan `getsourcecode`: `script(call_number, address)` picks each
    reply, or None for the fake corpus's real-shaped answer for that address. `calls` counts the calls."""

    def __init__(self, script: Callable[[int, str], Reply | None]):
        self.script = script
        self.calls = 0
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                params = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                with stand_in._lock:
                    stand_in.calls += 1
                    number = stand_in.calls
                address = params.get("address", "")
                reply = stand_in.script(number, address) or Reply(json.dumps(
                    getsourcecode_answer(int(params.get("chainid", 1)), address.lower())).encode())
                time.sleep(reply.hang_s)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up on a hang
                    pass

            def log_message(self, *args):  # the request line carries the API key: keep it out of test output
                pass

        self._server = StandInServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/v2/api"

    def __enter__(self) -> ScriptedEtherscan:
        self._stop = serve_in_thread(self._server)
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop()


class Row(NamedTuple):
    status: str
    error_code: str | None
    attempts: int
    sources: int


def ensure_connected(db) -> None:
    """The session's connection does not outlive a database restart by itself."""
    try:
        db.ping(reconnect=False)
    except pymysql.err.Error:
        db.connect()


def rows(db, addresses: list[str], chain_id: int = 1) -> dict[str, Row]:
    ensure_connected(db)
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT c.address, c.status, c.error_code, c.attempts, COUNT(s.contract_id) FROM contracts c"
            " LEFT JOIN contract_sources s ON s.contract_id = c.id"
            f" WHERE c.chain_id = %s AND c.address IN ({', '.join(['%s'] * len(addresses))}) GROUP BY c.id",
            (chain_id, *addresses),
        )
        return {address: Row(*values) for address, *values in cursor.fetchall()}


def assert_nothing_lost(db, accepted: list[str], *, chain_id: int = 1, timeout: float = 120.0) -> dict[str, Row]:
    """Every accepted contract reaches SUCCESS or ERROR (waiting up to `timeout` for it), none is lost (each
    keeps its row, a SUCCESS has its source) and none has two sources. Returns the rows."""
    try:
        wait_until(lambda: all(row.status in TERMINAL for row in rows(db, accepted, chain_id).values()), timeout,
                   "every accepted contract is SUCCESS or ERROR", interval=0.2)
    except TimeoutError:
        pass  # the assertions below say which are stuck
    found = rows(db, accepted, chain_id)
    assert not set(accepted) - set(found), f"lost rows: {sorted(set(accepted) - set(found))}"
    stuck = {address: row for address, row in found.items() if row.status not in TERMINAL}
    assert not stuck, f"{len(stuck)} contracts never settled: {stuck}"
    wrong = {address: row for address, row in found.items() if row.sources != (row.status == "SUCCESS")}
    assert not wrong, f"a SUCCESS without its one source, or an ERROR with one: {wrong}"
    return found

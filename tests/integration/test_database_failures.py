"""A transaction's failures reach its caller, and a stalled database holds no caller past its bounds.

A statement failing in a transaction is raised, never sent again alone (which would commit it without what the
transaction did before). A row lock not granted within LOCK_WAIT_TIMEOUT_S, and a server (or network) that stops
answering within STATEMENT_TIMEOUT_S, are Unavailable (a submission's 503), and the pools serve again once the
server does. Against the real MariaDB, behind a relay that can stop passing bytes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pymysql
import pytest
from fastapi.testclient import TestClient

from ethsource import db as db_module
from ethsource.db import Database, connect_args
from ethsource.errors import Unavailable
from ethsource.serving import load
from tests.scanning import configured, fresh

CHAIN = 12  # rows of their own: other tests use chain 1
ADDRESS, OTHER = "0x" + "cd" * 20, "0x" + "ce" * 20
STATEMENT_BOUND_S = 2.0
LOCK_BOUND_S = 1  # below the statement bound, as deployed: the server ends the wait first


class Relay:
    """A TCP relay to a server that can stall: while stalled, it takes bytes from either side and passes none."""

    def __init__(self, host: str, port: int):
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._passing = threading.Event()
        self._passing.set()
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        self._passing.clear()

    def resume(self) -> None:
        self._passing.set()

    def close(self) -> None:
        self._passing.set()
        for sock in self._sockets:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pass, args=(source, sink), daemon=True).start()

    def _pass(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._passing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()  # an end closed on one side closes the other: the server rolls back what was open


@pytest.fixture
def relay(service_env) -> Iterator[tuple[Relay, str]]:
    """A relay to the test run's database, and the DATABASE_URL through it."""
    parts = urlsplit(service_env["DATABASE_URL"])
    relay = Relay(parts.hostname, parts.port or 3306)
    yield relay, urlunsplit(parts._replace(netloc=f"root@127.0.0.1:{relay.port}"))
    relay.close()


@pytest.fixture
def bounds(monkeypatch):
    """Short bounds, read when a Database is made: the tests wait that long, not the deployed 5 and 3 s."""
    monkeypatch.setattr(db_module, "STATEMENT_TIMEOUT_S", STATEMENT_BOUND_S)
    monkeypatch.setattr(db_module, "LOCK_WAIT_TIMEOUT_S", LOCK_BOUND_S)


@pytest.fixture
def row(db) -> Iterator[None]:
    with db.cursor() as cursor:
        cursor.executemany("INSERT INTO contracts (chain_id, address, status) VALUES (%s, %s, 'CREATED')",
                           [(CHAIN, ADDRESS), (CHAIN, OTHER)])
    yield
    with db.cursor() as cursor:
        cursor.execute("DELETE FROM contracts WHERE chain_id = %s", (CHAIN,))


def seconds_to_fail(block) -> tuple[float, str]:
    started = time.monotonic()
    with pytest.raises(Unavailable) as raised:
        block()
    return time.monotonic() - started, str(raised.value)


def count_an_attempt(cursor, address: str) -> None:
    cursor.execute("UPDATE contracts SET attempts = attempts + 1 WHERE chain_id = %s AND address = %s",
                   (CHAIN, address))


def update_the_row(database: Database) -> None:
    with database.transaction() as cursor:
        count_an_attempt(cursor, ADDRESS)


def attempts(db) -> dict[str, int]:
    with db.cursor() as cursor:
        cursor.execute("SELECT address, attempts FROM contracts WHERE chain_id = %s", (CHAIN,))
        return dict(cursor.fetchall())


def test_a_transaction_chosen_as_a_deadlocks_victim_raises_and_commits_nothing(service_env, db, row):
    """InnoDB rolls the whole victim back; its failing statement alone must not go on to a commit."""
    database = Database(service_env["DATABASE_URL"], max_connections=1)
    other = pymysql.connect(**connect_args(service_env["DATABASE_URL"]))  # autocommit off: a transaction
    outcome: list[BaseException | None] = []

    def victim() -> None:
        try:
            with database.transaction() as cursor:
                count_an_attempt(cursor, ADDRESS)
                locked.set()
                count_an_attempt(cursor, OTHER)  # waits for `other`, which then waits for this one: a deadlock
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - what the transaction raised is the test's subject
            outcome.append(exc)

    locked = threading.Event()
    try:
        with other.cursor() as cursor:
            # More changed than the victim will have, so that InnoDB picks the victim (the one that changed less).
            cursor.executemany("INSERT INTO contracts (chain_id, address, status) VALUES (%s, %s, 'ERROR')",
                               [(CHAIN, f"0x{n:040x}") for n in range(20)])
            count_an_attempt(cursor, OTHER)
            thread = threading.Thread(target=victim)
            thread.start()
            assert locked.wait(5)
            time.sleep(0.3)  # the victim waits for OTHER's lock by now
            count_an_attempt(cursor, ADDRESS)  # the deadlock: InnoDB rolls back the one that changed less
        other.commit()
        thread.join(10)
    finally:
        other.close()
    [raised] = outcome
    assert isinstance(raised, pymysql.err.OperationalError) and raised.args[0] == 1213
    counted = attempts(db)
    assert (counted[ADDRESS], counted[OTHER]) == (1, 1)  # `other`'s, and nothing of the victim's


def read_the_row(database: Database) -> str:
    with database.reading() as cursor:
        cursor.execute("SELECT status FROM contracts WHERE chain_id = %s AND address = %s", (CHAIN, ADDRESS))
        return cursor.fetchone()[0]


def test_a_row_locked_past_the_wait_bound_is_unavailable_and_the_connection_serves_on(service_env, db, row, bounds):
    database = Database(service_env["DATABASE_URL"], max_connections=1)
    holder = Database(service_env["DATABASE_URL"], max_connections=1)
    with holder.transaction() as cursor:
        cursor.execute("SELECT id FROM contracts WHERE chain_id = %s FOR UPDATE", (CHAIN,))
        waited, message = seconds_to_fail(lambda: update_the_row(database))
    assert "database busy" in message and LOCK_BOUND_S - 0.1 < waited < STATEMENT_BOUND_S
    update_the_row(database)  # the lock is gone, and the same pooled connection works


@pytest.mark.parametrize("statement", [update_the_row, read_the_row], ids=["transaction", "read"])
def test_a_stalled_server_is_given_up_within_the_bound_and_used_again_when_it_answers(row, relay, bounds, statement):
    relay, url = relay
    database = Database(url, max_connections=1)
    statement(database)  # a pooled connection, open
    relay.stall()
    waited, message = seconds_to_fail(lambda: statement(database))
    # The pooled connection's check (a read: its statement), a new connection's handshake, and (a transaction) the
    # pool's replacing of the dead connection each wait for the bound.
    assert "database" in message and waited < 3 * STATEMENT_BOUND_S + 1
    relay.resume()
    statement(database)


def test_a_submission_meeting_a_stalled_database_is_refused_with_503_and_not_stored(service_env, db, relay, bounds):
    relay, url = relay
    [address, later] = fresh("solidity_single", 2)
    with configured(service_env, DATABASE_URL=url):
        client = TestClient(load("submit").app)
        assert client.post("/contracts", json={"address": fresh("solidity_single", 1)[0]}).status_code == 202
        relay.stall()
        started = time.monotonic()
        answer = client.post("/contracts", json={"address": address})
        waited = time.monotonic() - started
        relay.resume()
        assert client.post("/contracts", json={"address": later}).status_code == 202
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "unavailable"
    assert answer.headers["retry-after"] and waited < 3 * STATEMENT_BOUND_S + 1
    with db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM contracts WHERE address = %s", (address,))
        assert cursor.fetchone()[0] == 0

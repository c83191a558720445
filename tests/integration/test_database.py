"""Reads outside a transaction (a status poll's): each sees what is committed when it runs, and a pooled
connection the server has closed costs the caller nothing but a new connection."""

from __future__ import annotations

import pytest

from ethsource.db import Database
from ethsource.errors import Unavailable

CHAIN = 11  # rows of their own: other tests use chain 1
ADDRESS = "0x" + "ab" * 20


@pytest.fixture
def database(db, service_env):
    with db.cursor() as cursor:
        cursor.execute("INSERT INTO contracts (chain_id, address, status) VALUES (%s, %s, 'CREATED')",
                       (CHAIN, ADDRESS))
    yield Database(service_env["DATABASE_URL"], max_connections=1)  # one connection: each read reuses it
    with db.cursor() as cursor:
        cursor.execute("DELETE FROM contracts WHERE chain_id = %s", (CHAIN,))


def status_read(database: Database) -> tuple[str, int]:
    """The row's status as a read sees it, and the server's id of the connection it was read on."""
    with database.reading() as cursor:
        cursor.execute("SELECT status, CONNECTION_ID() FROM contracts WHERE chain_id = %s AND address = %s",
                       (CHAIN, ADDRESS))
        return cursor.fetchone()


def test_a_read_on_a_reused_connection_sees_what_was_committed_since_the_last(db, database):
    status, first_connection = status_read(database)
    with db.cursor() as cursor:
        cursor.execute("UPDATE contracts SET status = 'SUCCESS' WHERE chain_id = %s", (CHAIN,))
    status_after, connection = status_read(database)
    assert (status, status_after, connection) == ("CREATED", "SUCCESS", first_connection)


def test_a_read_on_a_connection_the_server_closed_is_sent_again_on_a_new_one(db, database):
    _, first_connection = status_read(database)
    with db.cursor() as cursor:
        cursor.execute(f"KILL CONNECTION {int(first_connection)}")
    status, connection = status_read(database)
    assert status == "CREATED" and connection != first_connection


def test_a_read_without_a_database_is_unavailable():
    with pytest.raises(Unavailable, match="database unreachable"):
        with Database("mysql://root@127.0.0.1:1/none").reading():
            pass

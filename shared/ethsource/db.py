"""MySQL access: a connection pool reused across requests (and Lambda invocations), and the migrations."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TypeVar
from urllib.parse import parse_qs, unquote, urlsplit
from weakref import WeakKeyDictionary

import pymysql
from dbutils.pooled_db import PooledDB

from .errors import Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS_LOCK = "ethsource_migrations"
# A read or write of the pools' that has not finished within this long is given up and its connection closed
# (Unavailable): a stalled server or network holds a caller no longer, nor the API's process, whose batches wait
# on its event loop (ethsource.batching.run_on_loop). A stall costs a transaction up to three of these (the pooled
# connection's check, a new connection's handshake, and the pool's replacing of the dead one), a read two.
STATEMENT_TIMEOUT_S = 5
# A row lock not granted within this long ends the statement on the server (error 1205, rolled back): cleanly, and
# before the client's own bound. InnoDB's default is 50 s; the rows our transactions lock are held for milliseconds.
LOCK_WAIT_TIMEOUT_S = 3
ATTEMPTS_ON_DEADLOCK = 3
# A pooled connection idle for this long is checked (a ping) before a transaction uses it; one in use since is
# not. A server restart or a killed connection leaves its connections idle for longer than this: each is
# replaced as it is taken, and the transaction never sees it.
CHECK_IDLE_AFTER_S = 1.0


def connect_args(url: str, *, with_database: bool = True) -> dict:
    parts = urlsplit(url)
    args = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "charset": "utf8mb4",
        "autocommit": False,
        "connect_timeout": 5,
        # TLS only when asked for (`?ssl=true`): otherwise pymysql builds a TLS context for every new
        # connection, about 45 ms of CPU each, which stalls a pool that is filling up under load.
        "ssl_disabled": parse_qs(parts.query).get("ssl", ["false"])[0].lower() not in ("true", "1", "required"),
    }
    if with_database:
        args["database"] = database_name(url)
    return args


def database_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name:
        raise ValueError("DATABASE_URL names no database")
    return name


class Database:
    def __init__(self, url: str, max_connections: int = 64):
        bounded = connect_args(url) | {
            "read_timeout": STATEMENT_TIMEOUT_S, "write_timeout": STATEMENT_TIMEOUT_S,
            "init_command": f"SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_TIMEOUT_S}"}
        # A transaction's connection is checked when taken only if it was idle (`_alive`): a restarted MySQL still
        # costs one reconnect, and a busy transaction (a submit batch, a scanner's claim) one round trip less, each
        # a wait of the event loop or thread that runs it.
        # reset=False: `transaction` always ends in a commit or a rollback, so the pool's own rollback of every
        # returned connection would be one more round trip per transaction for nothing.
        self._pool = PooledDB(pymysql, maxconnections=max_connections, blocking=True, ping=(1, _alive),
                              reset=False, **bounded)
        # Reads alone (a status poll): autocommit, so each query is one round trip where a transaction takes three
        # (begin, query, commit), and no ping: a query on a connection that has gone is sent again on a new one
        # (DBUtils does that outside a transaction). Opened when first used: only the API's readers need it.
        self._reads = PooledDB(pymysql, maxconnections=max_connections, blocking=True, ping=0, reset=False,
                               **bounded | {"autocommit": True})

    @contextmanager
    def transaction(self) -> Iterator[pymysql.cursors.Cursor]:
        """A cursor in one transaction: committed when the block ends, rolled back when it raises."""
        with _borrowed(self._pool) as (conn, cursor):
            # Told to DBUtils, so that a statement failing in it is raised: outside a transaction, DBUtils sends a
            # failed statement again on its own (on a new connection if need be), which here would have committed
            # it without what the transaction did before (a deadlock's victim, rolled back whole; a lost connection).
            conn.begin()
            try:
                yield cursor
                conn.commit()
            except BaseException:
                try:
                    conn.rollback()
                except pymysql.err.Error:
                    pass
                raise

    def transact(self, work: Callable[[pymysql.cursors.Cursor], T]) -> T:
        """work(cursor) in one transaction, run again whole when InnoDB rolled it back as a deadlock's victim: the
        transactions that lock many rows lock them in one order, which makes it rare, not impossible. What `work`
        does outside the database may so happen twice (a scan message published twice is harmless: the claim
        lets one copy through)."""
        for attempt in range(1, ATTEMPTS_ON_DEADLOCK + 1):
            try:
                with self.transaction() as cursor:
                    return work(cursor)
            except pymysql.err.OperationalError as exc:
                if exc.args[0] != _DEADLOCK or attempt == ATTEMPTS_ON_DEADLOCK:
                    raise
        raise AssertionError("unreachable")

    @contextmanager
    def reading(self) -> Iterator[pymysql.cursors.Cursor]:
        """A cursor whose every statement reads what is committed when it runs (no transaction around them)."""
        with _borrowed(self._reads) as (_, cursor):
            yield cursor

    def ping(self, *, reading: bool = False) -> None:
        """A statement on a transaction's pooled connection, or with `reading` on a reader's (a status poll's): a
        health check checks, and a process's warm-up opens, the connection its function serves with."""
        with (self.reading() if reading else self.transaction()) as cursor:
            cursor.execute("SELECT 1")


_last_taken: WeakKeyDictionary[pymysql.connections.Connection, float] = WeakKeyDictionary()


def _alive(connection: pymysql.connections.Connection) -> bool:
    """DBUtils' check of a connection taken from the pool: a ping only when it has been idle a while."""
    now, taken = time.monotonic(), _last_taken.get(connection, float("-inf"))
    _last_taken[connection] = now
    if now - taken < CHECK_IDLE_AFTER_S:
        return True
    connection.ping(reconnect=False)  # raises when the connection is gone: DBUtils then opens a new one
    return True


@contextmanager
def _borrowed(pool: PooledDB) -> Iterator[tuple]:
    """A connection of the pool and a cursor on it, given back when the block ends. An unreachable server, or one
    that went away mid-block, is Unavailable: a passing fault, not a bug."""
    try:
        conn = pool.connection()
    except pymysql.err.OperationalError as exc:
        raise Unavailable(f"database unreachable ({exc.args[0]})") from None
    try:
        with conn.cursor() as cursor:
            yield conn, cursor
    except BaseException as exc:
        code = _mysql_error_code(exc)
        if code in _LOST_CONNECTION:
            raise Unavailable(f"database connection lost ({code})") from None
        if code == _LOCK_WAIT_TIMEOUT:
            raise Unavailable(f"database busy: a row stayed locked for {LOCK_WAIT_TIMEOUT_S} s") from None
        raise
    finally:
        conn.close()  # back to the pool


# Client-side codes of a connection that is gone: 0 (closed), 2003 (cannot connect), 2006 (server has gone
# away), 2013 (lost during a query), 2055 (lost at a system error).
_LOST_CONNECTION = {0, 2003, 2006, 2013, 2055}


_LOCK_WAIT_TIMEOUT = 1205  # ER_LOCK_WAIT_TIMEOUT
_DEADLOCK = 1213  # ER_LOCK_DEADLOCK


def _mysql_error_code(exc: BaseException) -> int | None:
    """The MySQL error code of a connection's or a statement's failure; None for anything else."""
    if isinstance(exc, (pymysql.err.InterfaceError, pymysql.err.OperationalError)) and exc.args:
        return exc.args[0]
    return None


def migrate(url: str) -> list[str]:
    """Create the database if needed and apply the migrations not yet applied; returns their names.

    A named lock serialises concurrent migrators (several containers starting at once).
    """
    name = database_name(url)
    conn = pymysql.connect(**connect_args(url, with_database=False))
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
            cursor.execute(f"USE `{name}`")
            cursor.execute("SELECT GET_LOCK(%s, 60)", (MIGRATIONS_LOCK,))
            try:
                cursor.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version VARCHAR(255) NOT NULL PRIMARY KEY,"
                    " applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))"
                )
                cursor.execute("SELECT version FROM schema_migrations")
                done = {row[0] for row in cursor.fetchall()}
                applied = []
                for script in sorted(_migration_scripts(), key=lambda s: s.name):
                    if script.name in done:
                        continue
                    for statement in _statements(script.read_text()):
                        cursor.execute(statement)
                    cursor.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (script.name,))
                    conn.commit()
                    applied.append(script.name)
                    log.info("applied migration %s", script.name)
                return applied
            finally:
                cursor.execute("SELECT RELEASE_LOCK(%s)", (MIGRATIONS_LOCK,))
    finally:
        conn.close()


def _migration_scripts():
    return [p for p in resources.files("ethsource.migrations").iterdir() if p.name.endswith(".sql")]


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]

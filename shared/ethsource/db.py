"""MySQL access: a connection pool reused across requests (and Lambda invocations), and the migrations."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from urllib.parse import parse_qs, unquote, urlsplit

import pymysql
from dbutils.pooled_db import PooledDB

from .errors import Unavailable

log = logging.getLogger(__name__)

MIGRATIONS_LOCK = "ethsource_migrations"


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
        # ping=1: check a pooled connection when it is taken, so a restarted MySQL costs one reconnect.
        # reset=False: `transaction` always ends in a commit or a rollback, so the pool's own rollback of every
        # returned connection would be one more round trip per transaction for nothing.
        self._pool = PooledDB(pymysql, maxconnections=max_connections, blocking=True, ping=1, reset=False,
                              **connect_args(url))
        # Reads alone (a status poll): autocommit, so each query is one round trip where a transaction takes three
        # (ping, query, commit), and no ping: a query on a connection that has gone is sent again on a new one
        # (DBUtils does that outside a transaction). Opened when first used: only the API's readers need it.
        self._reads = PooledDB(pymysql, maxconnections=max_connections, blocking=True, ping=0, reset=False,
                               **connect_args(url) | {"autocommit": True})

    @contextmanager
    def transaction(self) -> Iterator[pymysql.cursors.Cursor]:
        """A cursor in one transaction: committed when the block ends, rolled back when it raises."""
        with _borrowed(self._pool) as (conn, cursor):
            try:
                yield cursor
                conn.commit()
            except BaseException:
                try:
                    conn.rollback()
                except pymysql.err.Error:
                    pass
                raise

    @contextmanager
    def reading(self) -> Iterator[pymysql.cursors.Cursor]:
        """A cursor whose every statement reads what is committed when it runs (no transaction around them)."""
        with _borrowed(self._reads) as (_, cursor):
            yield cursor

    def ping(self) -> None:
        with self.transaction() as cursor:
            cursor.execute("SELECT 1")


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
        if _lost_connection(exc):
            raise Unavailable(f"database connection lost ({exc.args[0]})") from None
        raise
    finally:
        conn.close()  # back to the pool


# Client-side codes of a connection that is gone: 0 (closed), 2003 (cannot connect), 2006 (server has gone
# away), 2013 (lost during a query), 2055 (lost at a system error).
_LOST_CONNECTION = {0, 2003, 2006, 2013, 2055}


def _lost_connection(exc: BaseException) -> bool:
    return (isinstance(exc, (pymysql.err.InterfaceError, pymysql.err.OperationalError))
            and bool(exc.args) and exc.args[0] in _LOST_CONNECTION)


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

"""The statements that find contracts by key use the (chain_id, address) index, whatever else the table holds.

A statement that scans another index instead still answers right, so only its plan shows it: MariaDB's
EXPLAIN of the very SQL that `store` sends, on a table where many rows share one status.
"""

from __future__ import annotations

import os

import pytest

from ethsource import store

CHAIN = 10  # rows of their own: other tests use chain 1
CROWD = 3000  # ERROR rows, enough for the optimizer to weigh the status index


class ExplainingCursor:
    """Runs EXPLAIN of each statement instead of the statement, and keeps the plans."""

    def __init__(self, cursor):
        self._cursor, self.plans = cursor, []

    def execute(self, sql: str, params=None):
        self._cursor.execute(f"EXPLAIN {sql}", params)
        columns = [column[0] for column in self._cursor.description]
        self.plans.extend(dict(zip(columns, row, strict=True)) for row in self._cursor.fetchall())

    def fetchall(self):
        return []


@pytest.fixture(scope="module")
def crowded(db):
    rows = [(CHAIN, "0x" + os.urandom(20).hex()) for _ in range(CROWD)]
    with db.cursor() as cursor:
        cursor.executemany("INSERT INTO contracts (chain_id, address, status, error_code) VALUES (%s, %s, 'ERROR',"
                           " 'not_verified')", rows)
        cursor.execute("ANALYZE TABLE contracts")
    yield rows
    with db.cursor() as cursor:
        cursor.execute("DELETE FROM contracts WHERE chain_id = %s", (CHAIN,))


@pytest.mark.parametrize("count", [1, 2, 200])
@pytest.mark.parametrize("statements", ["claim", "read"])
def test_lookups_by_key_use_the_key_index(db, crowded, statements, count):
    keys = crowded[:count]
    with db.cursor() as cursor:
        explaining = ExplainingCursor(cursor)
        if statements == "claim":  # its UPDATE and its SELECT
            store.claim_rows(explaining, keys, 120_000_000, os.urandom(16))
        else:
            store.read(explaining, keys, os.urandom(16))
    assert explaining.plans
    for plan in explaining.plans:
        assert plan["key"] == "contracts_chain_address", plan
        assert int(plan["rows"]) <= count, plan

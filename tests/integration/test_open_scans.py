"""Recording submissions (ContractStore.open_scans) against the real database: what a batch answers is what the
rows then hold, whether every contract was new (nothing read back) or some were known."""

from __future__ import annotations

import os

import pytest

from ethsource.db import Database
from ethsource.models import Status
from ethsource.store import ContractStore

CHAIN = 12  # rows of their own: other tests use chain 1


def key(n: int) -> tuple[int, str]:
    return CHAIN, "0x" + f"{n:040x}"


@pytest.fixture
def store(db, service_env):
    yield ContractStore(Database(service_env["DATABASE_URL"], max_connections=2))
    with db.cursor() as cursor:
        cursor.execute("DELETE FROM contracts WHERE chain_id = %s", (CHAIN,))


def open_scans(store: ContractStore, keys: list, refresh: set = frozenset()) -> tuple[dict, list]:
    published = []
    found = store.open_scans(keys, set(refresh), os.urandom(16), published.extend)
    return found, published


def test_a_batch_of_new_contracts_answers_each_as_its_row_then_holds_it(store):
    keys = [key(n) for n in range(1, 6)]
    found, published = open_scans(store, keys + keys[:1])  # one of them twice
    assert sorted(published) == keys and all(queued for _, queued in found.values())
    held = store.get_many(keys)
    assert {k: contract for k, (contract, _) in found.items()} == held
    assert all(contract.status is Status.CREATED and contract.created_at == contract.updated_at
               for contract in held.values())


def test_a_batch_of_new_and_known_contracts_reopens_only_the_failed_and_the_refreshed(store, db):
    new, created, failed, succeeded, refreshed = (key(n) for n in range(11, 16))
    with db.cursor() as cursor:
        for (chain_id, address), status in ((created, "CREATED"), (failed, "ERROR"), (succeeded, "SUCCESS"),
                                            (refreshed, "SUCCESS")):
            cursor.execute("INSERT INTO contracts (chain_id, address, status, error_code, attempts, contract_name)"
                           " VALUES (%s, %s, %s, %s, 3, 'Token')",
                           (chain_id, address, status, "not_verified" if status == "ERROR" else None))
    found, published = open_scans(store, [new, created, failed, succeeded, refreshed], {refreshed})
    assert sorted(published) == sorted([new, failed, refreshed])
    assert {k: queued for k, (_, queued) in found.items()} == {
        new: True, created: False, failed: True, succeeded: False, refreshed: True}
    held = store.get_many(found)
    assert {k: contract for k, (contract, _) in found.items()} == held
    assert held[failed].error is None and held[failed].attempts == 0 and held[failed].status is Status.CREATED
    assert held[succeeded].status is Status.SUCCESS and held[succeeded].attempts == 3
    assert held[refreshed].status is Status.CREATED and held[refreshed].contract_name == "Token"

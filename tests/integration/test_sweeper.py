"""The sweeper queues again what is stuck, once, and leaves alone what is moving."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ethsource import contracts
from ethsource_local.fake_etherscan import FakeConfig
from ethsource_local.functions import load
from tests.scanning import fresh, scanner


def insert(db, address: str, status: str, age_s: int) -> None:
    """A row as a lost message or a vanished scanner leaves it: no message anywhere."""
    with db.cursor() as cursor:
        cursor.execute("INSERT INTO contracts (chain_id, address, status, created_at, updated_at)"
                       " VALUES (1, %s, %s, UTC_TIMESTAMP(6) - INTERVAL %s SECOND,"
                       " UTC_TIMESTAMP(6) - INTERVAL %s SECOND)", (address, status, age_s, age_s))


def test_contracts_stuck_in_created_or_process_are_queued_again_and_finish(service_env, db):
    lost_message, vanished_scanner = fresh("solidity_single", 2)
    insert(db, lost_message, "CREATED", 3600)
    insert(db, vanished_scanner, "PROCESS", 3600)
    with scanner(service_env, db, FakeConfig()) as scan:
        assert contracts.sweep(older_than_s=60) == 2
        results = scan.wait([lost_message, vanished_scanner])
    assert {r["status"] for r in results.values()} == {"SUCCESS"}


def test_recent_contracts_are_left_alone(service_env, db):
    [recent] = fresh("solidity_single", 1)
    insert(db, recent, "CREATED", 5)
    with scanner(service_env, db, FakeConfig()):
        assert contracts.sweep(older_than_s=60) == 0
        assert contracts.get(1, recent).status == "CREATED"


def test_racing_sweepers_queue_a_stuck_contract_once(service_env, db):
    stuck = fresh("solidity_multi", 20)
    for address in stuck:
        insert(db, address, "CREATED", 3600)
    with scanner(service_env, db, FakeConfig()) as scan:
        with ThreadPoolExecutor(4) as pool:
            requeued = sum(pool.map(lambda _: contracts.sweep(older_than_s=60), range(4)))
        results = scan.wait(stuck)
    assert requeued == 20
    assert {r["attempts"] for r in results.values()} == {1}


def test_the_sweep_function_runs_on_a_scheduled_event(service_env, db):
    [stuck] = fresh("vyper_single", 1)
    insert(db, stuck, "CREATED", 3600)
    with scanner(service_env, db, FakeConfig(), SWEEP_AFTER="60") as scan:
        answer = load("sweep").handler({"source": "aws.events", "detail-type": "Scheduled Event"}, None)
        assert answer["requeued"] >= 1
        assert scan.wait([stuck])[stuck]["status"] == "SUCCESS"

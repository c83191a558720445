"""The sweeper queues again what is stuck, once, and leaves alone what is moving."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pika
import pytest

from ethsource import lookup, services, sweeping
from ethsource.invoke import request
from ethsource.models import ScanItem
from ethsource.queue import Outgoing
from ethsource.serving import load
from ethsource_local.fake_etherscan import FakeConfig, running
from tests.scanning import fresh, own_queue, scanner

# How the container platforms' schedulers call sweep's POST /: Knative's PingSource sends a binary-mode
# CloudEvent, OpenFaaS's cron-connector a plain POST.
PING_SOURCE = ({"ce-specversion": "1.0", "ce-id": "1", "ce-type": "dev.knative.sources.ping",
                "ce-source": "/apis/v1/namespaces/ethsource/pingsources/sweep", "content-type": "application/json"},
               b'{"task": "sweep"}')
CRON_CONNECTOR = ({"x-topic": "cron-function"}, b"")
# Other tests of the run leave rows in CREATED or PROCESS on purpose (at most hours old): the tests that count
# what a sweep found plant rows older than that and sweep only rows that old.
SWEEP_AFTER_S = 5 * 86400
STUCK_S = 10 * 86400


def insert(db, address: str, status: str, age_s: int) -> None:
    """A row as a lost message or a vanished scanner leaves it: no message anywhere."""
    with db.cursor() as cursor:
        cursor.execute("INSERT INTO contracts (chain_id, address, status, created_at, updated_at)"
                       " VALUES (1, %s, %s, UTC_TIMESTAMP(6) - INTERVAL %s SECOND,"
                       " UTC_TIMESTAMP(6) - INTERVAL %s SECOND)", (address, status, age_s, age_s))


def sweep(older_than_s: float = SWEEP_AFTER_S) -> int:
    shared = services.services()
    return sweeping.sweep(shared.store, shared.publisher, shared.messages_waiting, older_than_s=older_than_s)


def status(address: str) -> str:
    [contract] = lookup.get_many(services.services().store, [(1, address)])
    return contract.status


def test_contracts_stuck_in_created_or_process_are_queued_again_and_finish(service_env, db):
    lost_message, vanished_scanner = fresh("solidity_single", 2)
    insert(db, lost_message, "CREATED", STUCK_S)
    insert(db, vanished_scanner, "PROCESS", STUCK_S)
    with scanner(service_env, db, FakeConfig()) as scan:
        assert sweep() == 2
        results = scan.wait([lost_message, vanished_scanner])
    assert {r["status"] for r in results.values()} == {"SUCCESS"}


def test_recent_contracts_are_left_alone(service_env, db):
    [recent] = fresh("solidity_single", 1)
    insert(db, recent, "CREATED", 5)
    with scanner(service_env, db, FakeConfig()):
        assert sweep() == 0
        assert status(recent) == "CREATED"


def test_racing_sweepers_queue_a_stuck_contract_once(service_env, db):
    stuck = fresh("solidity_multi", 20)
    for address in stuck:
        insert(db, address, "CREATED", STUCK_S)
    with scanner(service_env, db, FakeConfig()) as scan:
        with ThreadPoolExecutor(4) as pool:
            requeued = sum(pool.map(lambda _: sweep(), range(4)))
        results = scan.wait(stuck)
    assert requeued == 20
    assert {r["attempts"] for r in results.values()} == {1}


def test_nothing_is_swept_while_messages_wait_in_the_scan_queues(service_env, db):
    """A contract in a backlog waits with its message still coming: it is not lost, and queuing it again would
    only grow the backlog."""
    backlog, stuck = fresh("solidity_single", 2)
    insert(db, stuck, "CREATED", STUCK_S)
    with running(FakeConfig()) as fake_url, own_queue(service_env, fake_url) as (_, scan):  # no scanner consumes
        services.services().publisher.publish([Outgoing([ScanItem(chain_id=1, address=backlog)])])
        assert sweep() == 0
        assert status(stuck) == "CREATED" and scan.depth()[scan.topology.queue] == 1
        services.services().publisher.publish([Outgoing([ScanItem(chain_id=1, address=backlog)],
                                                        scan.topology.recheck_queue, delay_s=60)])
        purge_work_queue(scan)
        assert sweep() == 0  # a message waiting in a delay queue comes back too
        assert status(stuck) == "CREATED"


def purge_work_queue(scan) -> None:
    """Empty the work queue, leaving the delay queues as they are."""
    connection = pika.BlockingConnection(pika.URLParameters(services.services().settings.rabbitmq_url))
    connection.channel().queue_purge(scan.topology.queue)
    connection.close()


def test_the_sweep_function_runs_on_a_scheduled_event(service_env, db):
    [stuck] = fresh("vyper_single", 1)
    insert(db, stuck, "CREATED", 3600)
    with scanner(service_env, db, FakeConfig(), SWEEP_AFTER="60", SCAN_LEASE="30") as scan:
        answer = load("sweep").handler({"source": "aws.events", "detail-type": "Scheduled Event"}, None)
        assert answer["requeued"] >= 1
        assert scan.wait([stuck])[stuck]["status"] == "SUCCESS"


@pytest.mark.parametrize("headers, body", [PING_SOURCE, CRON_CONNECTOR], ids=["pingsource", "cron-connector"])
def test_a_scheduler_posting_to_the_sweep_function_runs_one_sweep(service_env, db, headers, body):
    [stuck] = fresh("solidity_single", 1)
    insert(db, stuck, "PROCESS", 3600)
    with scanner(service_env, db, FakeConfig(), SWEEP_AFTER="60", SCAN_LEASE="30") as scan:
        answer = request(load("sweep").app, "POST", "/", headers, body)
        assert answer.status_code == 200 and answer.json()["requeued"] >= 1
        assert not [name for name in answer.headers if name.startswith("ce-")]  # else Knative takes it as a reply
        assert scan.wait([stuck])[stuck]["status"] == "SUCCESS"


def test_the_running_systems_sweep_is_reached_through_the_gateway(system, db):
    [stuck] = fresh("proxy", 1)
    insert(db, stuck, "CREATED", 2 * 86400)  # older than the test system's SWEEP_AFTER (tests/conftest.py)
    answer = system.http.post("/functions/sweep/")
    assert answer.status_code == 200 and answer.json()["requeued"] >= 1
    assert system.wait_terminal(stuck)["status"] == "SUCCESS"

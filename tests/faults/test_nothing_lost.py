"""Every accepted contract reaches SUCCESS or ERROR, whatever crashes or restarts in between: a scanner killed
mid-batch, the broker or the database stopped during a flow, Etherscan failing in bursts, messages delivered
more than once. Real MariaDB and RabbitMQ, the scanner as its own process (`ethsource serve scan`), submissions
through the library in this process; each test ends with `assert_nothing_lost`."""

from __future__ import annotations

import json
from collections import Counter

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ethsource import services
from ethsource.models import ScanItem
from ethsource.queue import Outgoing, Topology, queue_stats
from ethsource.submission import Submission
from ethsource_local.fake_etherscan import FakeConfig, running
from ethsource_local.fake_etherscan import stats as fake_stats
from tests.faults.rig import (
    TERMINAL,
    Reply,
    ScriptedEtherscan,
    assert_nothing_lost,
    fresh_addresses,
    library_settings,
    rows,
    scanner,
    wait_until,
)

# Slow enough that a flow of BATCH contracts, SCAN_CONCURRENCY at a time, lasts a few seconds.
SLOW_ETHERSCAN = FakeConfig(latency_ms=400)
BATCH = 24


def submit_all(addresses: list[str]) -> None:
    """One submission (and one message) each, as separate callers make them."""
    for address in addresses:
        [(_, queued)] = services.services().submitter.submit_many([Submission(1, address)])
        assert queued


def wait_mid_flow(db, addresses: list[str]) -> None:
    def under_way() -> bool:
        statuses = [row.status for row in rows(db, addresses).values()]
        return "SUCCESS" in statuses and any(status not in TERMINAL for status in statuses)

    wait_until(under_way, 60, "some contracts are scanned and some are not yet")


def queue_depths(settings) -> dict[str, int]:
    stats = queue_stats(settings.rabbitmq_url, Topology.from_settings(settings).all_queues)
    return {queue: ready for queue, (ready, _) in stats.items()}


def test_a_scanner_killed_mid_batch_leaves_its_work_to_the_next_one(service_env, db, tmp_path):
    addresses, concurrency = fresh_addresses(BATCH), 4
    # The first wave of scans completes; the second hangs in its Etherscan calls until the kill; then all answer.
    second_wave = range(concurrency + 1, 2 * concurrency + 1)
    with (ScriptedEtherscan(lambda call, _: Reply(b"", hang_s=20) if call in second_wave else None) as etherscan,
          # A short lease: the killed scanner's contracts are taken again 2 s after it last touched them.
          library_settings(service_env, ETHERSCAN_API_URL=etherscan.url, SCAN_CONCURRENCY=str(concurrency),
                           ETHERSCAN_TIMEOUT="60", ETHERSCAN_RATE_LIMIT="1000", SCAN_LEASE="2")):
        with scanner(tmp_path / "scanner.log") as first:
            submit_all(addresses)
            wait_until(lambda: etherscan.calls == 2 * concurrency
                       and Counter(row.status for row in rows(db, addresses).values())
                       == {"SUCCESS": concurrency, "PROCESS": concurrency, "CREATED": BATCH - 2 * concurrency},
                       60, "the first scanner is mid-batch: one wave done, the next waiting for Etherscan")
            first.kill()
        in_flight = [address for address, row in rows(db, addresses).items() if row.status == "PROCESS"]
        with scanner(tmp_path / "scanner.log"):
            settled = assert_nothing_lost(db, addresses)
    assert len(in_flight) == concurrency
    assert {row.status for row in settled.values()} == {"SUCCESS"}
    # RabbitMQ gave the killed scanner's unacked messages to the next one, which scanned those contracts again.
    assert {settled[address].attempts for address in in_flight} == {2}


def test_a_broker_restart_during_a_flow_loses_nothing(service_env, db, tmp_path, rabbitmq):
    addresses = fresh_addresses(BATCH)
    with (running(SLOW_ETHERSCAN) as fake_url,
          library_settings(service_env, ETHERSCAN_API_URL=fake_url, SCAN_CONCURRENCY="4") as settings,
          scanner(tmp_path / "scanner.log") as scan):
        submit_all(addresses)
        wait_mid_flow(db, addresses)
        with rabbitmq.down():
            # The scanner finishes what it holds but cannot ack it.
            wait_until(lambda: "consumer lost the broker" in scan.log_text(), 30, "the scanner lost the broker")
        settled = assert_nothing_lost(db, addresses)
        assert set(queue_depths(settings).values()) == {0}
    assert {row.status for row in settled.values()} == {"SUCCESS"}


def test_a_database_outage_during_a_flow_loses_nothing(service_env, db, tmp_path, mariadb):
    addresses = fresh_addresses(BATCH)
    # A short lease: the contracts whose outcome could not be stored are taken again 5 s after their claim.
    with (running(SLOW_ETHERSCAN) as fake_url,
          library_settings(service_env, ETHERSCAN_API_URL=fake_url, SCAN_CONCURRENCY="4",
                           SCAN_LEASE="5") as settings,
          scanner(tmp_path / "scanner.log") as scan):
        submit_all(addresses)
        wait_mid_flow(db, addresses)
        with mariadb.down():
            # Scans in flight cannot store their outcome; new messages cannot be claimed.
            wait_until(lambda: "settling a message failed" in scan.log_text(), 30,
                       "the scanner failed to settle a message")
        settled = assert_nothing_lost(db, addresses)
        assert set(queue_depths(settings).values()) == {0}
    assert {row.status for row in settled.values()} == {"SUCCESS"}


BAD_GATEWAY = Reply(b"<html><body><h1>502 Bad Gateway</h1></body></html>", status=502, content_type="text/html")
RATE_LIMITED = Reply(json.dumps({"status": "0", "message": "NOTOK",
                                 "result": "Max calls per sec rate limit reached (5/sec)"}).encode())
FAULTS = {"502": BAD_GATEWAY, "timeout": Reply(b"", hang_s=1.5), "rate_limit": RATE_LIMITED,
          "429": Reply(b"", status=429), "503": Reply(b"", status=503)}
BURST_CYCLE, BURST_LENGTH = 8, 3  # of every 8 calls the last 3 fail, each burst with the next kind of fault


def test_etherscan_failing_in_bursts_delays_contracts_but_loses_none(service_env, db, tmp_path):
    addresses = fresh_addresses(40)
    served = set()

    def bursts_of_faults(call: int, address: str) -> Reply | None:
        cycle, position = divmod(call, BURST_CYCLE)
        if position < BURST_CYCLE - BURST_LENGTH:
            return None
        kind = list(FAULTS)[cycle % len(FAULTS)]
        served.add(kind)
        return FAULTS[kind]

    with (ScriptedEtherscan(bursts_of_faults) as etherscan,
          library_settings(service_env, ETHERSCAN_API_URL=etherscan.url, SCAN_CONCURRENCY="8",
                           SCAN_MAX_ATTEMPTS="12", SCAN_RETRY_BASE_DELAY="0.05", ETHERSCAN_TIMEOUT="0.5",
                           ETHERSCAN_RATE_LIMIT="1000") as settings,
          scanner(tmp_path / "scanner.log")):
        submit_all(addresses)
        settled = assert_nothing_lost(db, addresses)
        assert set(queue_depths(settings).values()) == {0}
        calls = etherscan.calls
    assert served == set(FAULTS)
    assert {row.status for row in settled.values()} == {"SUCCESS"}
    assert sum(row.attempts for row in settled.values()) == calls  # each call counted as one attempt


def scans_settled(scanner_process, outcome: str) -> float:
    text = httpx.get(f"{scanner_process.url}/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "ethsource_scans":
            return sum(s.value for s in family.samples if s.name.endswith("_total") and s.labels["outcome"] == outcome)
    return 0.0


def publish_copies(addresses: list[str], copies: int) -> None:
    for address in addresses:
        for _ in range(copies):
            services.services().publisher.publish([Outgoing([ScanItem(chain_id=1, address=address)])])


def test_copies_of_a_finished_contract_message_are_skipped_without_calling_etherscan(service_env, db, tmp_path):
    addresses, copies = fresh_addresses(10), 3
    with (running(FakeConfig()) as fake_url,
          library_settings(service_env, ETHERSCAN_API_URL=fake_url, SCAN_CONCURRENCY="8"),
          scanner(tmp_path / "scanner.log") as scan):
        submit_all(addresses)
        before = assert_nothing_lost(db, addresses)
        calls = fake_stats(fake_url)["calls"]
        publish_copies(addresses, copies)
        wait_until(lambda: scans_settled(scan, "skipped") >= len(addresses) * copies, 30, "every copy is settled")
        after = assert_nothing_lost(db, addresses)
        assert fake_stats(fake_url)["calls"] == calls
    assert after == before  # same status, attempts and single source


def test_copies_delivered_while_the_first_is_scanned_store_one_source(service_env, db, tmp_path):
    addresses, copies = fresh_addresses(10), 3
    with (running(FakeConfig(latency_ms=300)) as fake_url,
          library_settings(service_env, ETHERSCAN_API_URL=fake_url, SCAN_CONCURRENCY="16"),
          scanner(tmp_path / "scanner.log")):
        submit_all(addresses)
        publish_copies(addresses, copies)
        settled = assert_nothing_lost(db, addresses)
    assert {row.status for row in settled.values()} == {"SUCCESS"}
    assert {row.attempts for row in settled.values()} == {1}  # the copies waited for the first scan's lease

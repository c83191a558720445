"""The scanner as an Etherscan citizen: one budget however many scanners run, retries, permanent failures,
proxies, size — `ethsource serve scan` processes, real MariaDB and RabbitMQ, the fake Etherscan over HTTP
counting what it receives."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

from ethsource import lookup, services, sources
from ethsource_local.fake_etherscan import FakeConfig, expected_files, implementation_of
from ethsource_local.processes import stop_all
from tests.conftest import wait_until
from tests.faults.rig import ScannerProcess
from tests.scanning import Scan, budget_scanner, fake_apart, fresh, own_queue, scanner


def stored_sources(db, addresses: list[str]) -> dict[str, int]:
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT c.address, COUNT(s.contract_id) FROM contracts c LEFT JOIN contract_sources s"
            f" ON s.contract_id = c.id WHERE c.address IN ({', '.join(['%s'] * len(addresses))}) GROUP BY c.address",
            addresses,
        )
        return dict(cursor.fetchall())


def budget_used(stats: dict, keys: int, rate: float) -> float:
    """The share of keys × rate the calls used, over the whole seconds from the first call to the last."""
    seconds = {int(s) for per_second in stats["per_key_per_second"].values() for s in per_second}
    return stats["calls"] / ((max(seconds) - min(seconds) + 1) * keys * rate)


def test_budget_holds_across_keys_as_counted_by_the_fake(service_env, db):
    keys, rate = ("key-one", "key-two"), 5
    addresses = fresh("solidity_single", 40)
    with budget_scanner(service_env, keys, rate) as scan:
        results = scan.submit_and_wait(addresses)
        stats = scan.stats()
        granted = scan.metric("ethsource_budget_calls_total", budget="etherscan")
    assert {r["status"] for r in results.values()} == {"SUCCESS"}
    assert stats["over_budget"] == 0 and stats["rate_limited"] == 0
    assert set(stats["max_per_key_per_second"]) == set(keys)  # both keys carried the load
    assert max(stats["max_per_key_per_second"].values()) <= rate
    assert granted == stats["calls"]  # the budget counts each call it lets leave


@contextmanager
def fleet(service_env, tmp_path, keys: tuple[str, ...], rate: float, instances: int) -> Iterator[tuple[Scan, list]]:
    """`instances` scanner processes on one queue, against a fake that enforces `keys` × `rate`."""
    with fake_apart(keys, rate) as fake_url, \
            own_queue(service_env, fake_url, ETHERSCAN_API_KEYS=",".join(keys), ETHERSCAN_RATE_LIMIT=str(rate),
                      SCAN_LEASE="5") as (_, scan):
        processes = [ScannerProcess(tmp_path / f"scanner-{n}.log").start() for n in range(instances)]
        try:
            yield scan, processes
        finally:
            stop_all(processes)


def test_a_fleet_of_scanners_keeps_to_one_budget_and_uses_it(service_env, db, tmp_path):
    keys, rate = ("key-one", "key-two"), 5
    addresses = fresh("solidity_single", 100)
    with fleet(service_env, tmp_path, keys, rate, instances=3) as (scan, _):
        for address in addresses:  # a message each, so every instance has some
            scan.submit([address])
        results = scan.wait(addresses)
        stats = scan.stats()
    assert {r["status"] for r in results.values()} == {"SUCCESS"}
    assert stats["over_budget"] == 0 and stats["rate_limited"] == 0
    assert max(stats["max_per_key_per_second"].values()) <= rate
    # A guard against a regression, with room for a loaded test machine; load.etherscan_budget measures it.
    assert budget_used(stats, len(keys), rate) >= 0.75, sorted(stats["per_key_per_second"]["key-one"].items())


def test_a_killed_scanner_of_a_fleet_loses_nothing_and_the_budget_still_holds(service_env, db, tmp_path):
    keys, rate = ("key-one", "key-two"), 5
    addresses = fresh("solidity_single", 100)
    with fleet(service_env, tmp_path, keys, rate, instances=3) as (scan, processes):
        for address in addresses:
            scan.submit([address])
        wait_until(lambda: scan.stats()["calls"] >= 30, 60, "the fleet is under way")
        processes[0].kill()  # its keys free up when their lease ends; its contracts, when theirs do
        results = scan.wait(addresses)
        stats = scan.stats()
    assert {r["status"] for r in results.values()} == {"SUCCESS"}
    assert stats["over_budget"] == 0 and stats["rate_limited"] == 0, stats["per_key_per_second"]
    assert max(stats["max_per_key_per_second"].values()) <= rate


def test_scanner_processes_on_one_port_share_the_budget(service_env, db):
    """`ethsource serve scan` with WEB_CONCURRENCY=2 (what a container runs): two consumers, one budget."""
    keys, rate = ("key-one",), 5
    addresses = fresh("solidity_single", 30)
    with budget_scanner(service_env, keys, rate, WEB_CONCURRENCY="2") as scan:
        results = scan.submit_and_wait(addresses)
        stats = scan.stats()
    assert {r["status"] for r in results.values()} == {"SUCCESS"}
    assert stats["over_budget"] == 0 and stats["rate_limited"] == 0, stats["per_key_per_second"]
    assert max(stats["max_per_key_per_second"].values()) <= rate


def test_passing_faults_are_retried_and_no_message_is_lost_or_duplicated(service_env, db):
    addresses = fresh("solidity_multi", 30)
    fake = FakeConfig(error_rate=0.2, timeout_rate=0.1, rate_limit_rate=0.1, hang_s=2)
    with scanner(service_env, db, fake, SCAN_MAX_ATTEMPTS="15", SCAN_RETRY_BASE_DELAY="0.05",
                 ETHERSCAN_TIMEOUT="0.5", ETHERSCAN_RATE_LIMIT="1000") as scan:
        results = scan.submit_and_wait(addresses)
        assert sum(scan.stats()["faults"].values()) > 0
        wait_until(lambda: set(scan.depth().values()) == {0}, 10,
                   "nothing left behind in the work, retry or dead-letter queues")
        retries = scan.metric("ethsource_scan_retries_total")
    assert {r["status"] for r in results.values()} == {"SUCCESS"}
    assert max(r["attempts"] for r in results.values()) > 1 and retries > 0
    assert stored_sources(db, addresses) == dict.fromkeys(addresses, 1)


def test_a_fault_that_outlasts_the_attempts_ends_in_etherscan_unavailable(service_env, db):
    [address] = fresh("solidity_single", 1)
    with scanner(service_env, db, FakeConfig(error_rate=1.0), SCAN_MAX_ATTEMPTS="3",
                 SCAN_RETRY_BASE_DELAY="0.05") as scan:
        result = scan.submit_and_wait([address])[address]
        assert scan.stats()["calls"] == 3
    assert result["status"] == "ERROR" and result["attempts"] == 3
    assert result["error"] == {"code": "etherscan_unavailable", "message": "Etherscan answered HTTP 502"}


def test_a_rejected_key_is_error_etherscan_auth_and_counted(service_env, db):
    [address] = fresh("solidity_single", 1)
    with scanner(service_env, db, FakeConfig(api_keys=("the-right-key",)), ETHERSCAN_API_KEYS="a-wrong-key") as scan:
        result = scan.submit_and_wait([address])[address]
        rejected = scan.metric("ethsource_etherscan_calls_total", result="auth_error")
    assert result["status"] == "ERROR" and result["attempts"] == 1
    assert result["error"]["code"] == "etherscan_auth"
    assert "a-wrong-key" not in result["error"]["message"]
    assert rejected == 1


def test_a_proxy_download_carries_its_implementation(service_env, db):
    [proxy] = fresh("proxy", 1)
    implementation = implementation_of(proxy)
    with scanner(service_env, db, FakeConfig()) as scan:
        result = scan.submit_and_wait([proxy])[proxy]
        _, source = lookup.get_source(services.services().store, 1, proxy)
    assert result["status"] == "SUCCESS" and result["proxy"] is True and result["provider"] == "etherscan"
    assert result["implementation"].lower() == implementation.lower()
    names = zipfile.ZipFile(io.BytesIO(sources.to_zip(source))).namelist()
    implementation_files = {name.removeprefix("implementation/") for name in names
                            if name.startswith("implementation/")}
    expected = {sources.safe_path(path) for path in expected_files(1, implementation)}
    assert implementation_files == expected | {"metadata.json", "abi.json"}
    assert {sources.safe_path(path) for path in expected_files(1, proxy)} <= set(names)


def test_a_source_over_the_size_limit_is_error_source_too_large(service_env, db):
    [address] = fresh("solidity_standard_json", 1)
    with scanner(service_env, db, FakeConfig(), SCAN_MAX_SOURCE_BYTES="2000") as scan:
        result = scan.submit_and_wait([address])[address]
    assert result["status"] == "ERROR" and result["error"]["code"] == "source_too_large"

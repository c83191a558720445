"""The scanner as an Etherscan citizen: budget, retries, permanent failures, proxies, size — in-process scanner,
real MariaDB and RabbitMQ, the fake Etherscan over HTTP counting what it receives."""

from __future__ import annotations

import io
import time
import zipfile

from prometheus_client import REGISTRY

from ethsource import contracts, sources
from ethsource.queue import queue_stats
from ethsource_local.fake_etherscan import FakeConfig, expected_files, implementation_of, running
from tests.conftest import serving
from tests.scanning import fresh, own_queue, scanner


def metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def stored_sources(db, addresses: list[str]) -> dict[str, int]:
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT c.address, COUNT(s.contract_id) FROM contracts c LEFT JOIN contract_sources s"
            f" ON s.contract_id = c.id WHERE c.address IN ({', '.join(['%s'] * len(addresses))}) GROUP BY c.address",
            addresses,
        )
        return dict(cursor.fetchall())


def test_budget_holds_across_keys_under_concurrency_as_counted_by_the_fake(service_env, db):
    keys, rate = ("key-one", "key-two"), 5
    addresses = fresh("solidity_single", 40)
    # The fake counts arrivals: on a loaded test machine a call can sit in a run queue for a few hundred ms on
    # its way, so the scanner here aims 10 % under the budget the fake enforces (in production, 3 %).
    with scanner(service_env, db, FakeConfig(api_keys=keys, rate_limit=rate),
                 ETHERSCAN_API_KEYS=",".join(keys), ETHERSCAN_RATE_LIMIT=str(rate * 0.9)) as scan:
        results = scan.submit_and_wait(addresses)
        stats = scan.stats()
    assert {r["status"] for r in results.values()} == {"SUCCESS"}
    assert stats["over_budget"] == 0 and stats["rate_limited"] == 0
    assert set(stats["max_per_key_per_second"]) == set(keys)  # both keys carried the load
    assert max(stats["max_per_key_per_second"].values()) <= rate


def test_scanner_processes_on_one_port_share_the_budget(service_env, db):
    """`ethsource serve scan` with WEB_CONCURRENCY=2 (what a container runs): two consumers, one budget."""
    keys, rate = ("key-one",), 5
    addresses = fresh("solidity_single", 30)
    with running(FakeConfig(api_keys=keys, rate_limit=rate)) as fake_url, \
            own_queue(service_env, fake_url, ETHERSCAN_API_KEYS=",".join(keys), ETHERSCAN_RATE_LIMIT=str(rate * 0.9),
                      SCAN_CONSUMER="true", WEB_CONCURRENCY="2") as (settings, scan):
        with serving("scan"):
            deadline = time.monotonic() + 60
            while queue_stats(settings.rabbitmq_url, settings.scan_queue)[1] < 2:
                assert time.monotonic() < deadline, "two scan consumers never started"
                time.sleep(0.2)
            results = scan.submit_and_wait(addresses)
            stats = scan.stats()
    assert {r["status"] for r in results.values()} == {"SUCCESS"}
    # Each process paces itself at half the rate: together they keep to it (each at the full rate would not).
    assert stats["over_budget"] == 0 and stats["rate_limited"] == 0
    assert max(stats["max_per_key_per_second"].values()) <= rate


def test_passing_faults_are_retried_and_no_message_is_lost_or_duplicated(service_env, db):
    addresses = fresh("solidity_multi", 30)
    retries_before = metric("ethsource_scan_retries_total", reason="etherscan_unavailable")
    fake = FakeConfig(error_rate=0.2, timeout_rate=0.1, rate_limit_rate=0.1, hang_s=2)
    with scanner(service_env, db, fake, SCAN_MAX_ATTEMPTS="15", SCAN_RETRY_BASE_DELAY="0.05",
                 ETHERSCAN_TIMEOUT="0.5", ETHERSCAN_RATE_LIMIT="1000") as scan:
        results = scan.submit_and_wait(addresses)
        assert sum(scan.stats()["faults"].values()) > 0
        time.sleep(0.5)
        assert set(scan.depth().values()) == {0}  # nothing left behind in the work, retry or dead-letter queues
    assert {r["status"] for r in results.values()} == {"SUCCESS"}
    assert max(r["attempts"] for r in results.values()) > 1
    assert stored_sources(db, addresses) == dict.fromkeys(addresses, 1)
    assert metric("ethsource_scan_retries_total", reason="etherscan_unavailable") > retries_before


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
    rejected_before = metric("ethsource_etherscan_calls_total", result="auth_error")
    with scanner(service_env, db, FakeConfig(api_keys=("the-right-key",)), ETHERSCAN_API_KEYS="a-wrong-key") as scan:
        result = scan.submit_and_wait([address])[address]
    assert result["status"] == "ERROR" and result["attempts"] == 1
    assert result["error"]["code"] == "etherscan_auth"
    assert "a-wrong-key" not in result["error"]["message"]
    assert metric("ethsource_etherscan_calls_total", result="auth_error") == rejected_before + 1


def test_a_proxy_download_carries_its_implementation(service_env, db):
    [proxy] = fresh("proxy", 1)
    implementation = implementation_of(proxy)
    with scanner(service_env, db, FakeConfig()) as scan:
        result = scan.submit_and_wait([proxy])[proxy]
        _, source = contracts.get_source(1, proxy)
    assert result["status"] == "SUCCESS" and result["proxy"] is True
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

"""Benchmark of the scanner's Etherscan budget (issue 3): `uv run python -m load.etherscan_budget`.

Drives N fresh contracts through a scan consumer against the fake Etherscan configured with K keys at R calls/s
(which answers "Max rate limit reached" past that and counts calls over budget), first without faults, then with
10 % of calls failing transiently (5xx, hangs past the client timeout, rate-limit answers). Reports achieved calls/s
against K x R, the calls over budget as counted by the fake, and how many contracts ended ERROR because of faults.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid

import pika
import pymysql

from ethsource import contracts
from ethsource.addresses import to_checksum
from ethsource.config import get_settings
from ethsource.db import connect_args, migrate
from ethsource.queue import Consumer, Topology
from ethsource_local.fake_etherscan import FakeConfig, running
from ethsource_local.fake_etherscan import stats as fake_stats


def run(contract_count: int, keys: int, rate: float, fault_rate: float) -> dict:
    api_keys = tuple(f"bench-key-{n}" for n in range(keys))
    fake = FakeConfig(api_keys=api_keys, rate_limit=rate, latency_ms=100, jitter_ms=50, hang_s=3,
                      error_rate=fault_rate / 2, timeout_rate=fault_rate / 4, rate_limit_rate=fault_rate / 4)
    with running(fake) as fake_url:
        os.environ.update({"ETHERSCAN_API_URL": fake_url, "ETHERSCAN_API_KEYS": ",".join(api_keys),
                           "ETHERSCAN_RATE_LIMIT": str(rate), "ETHERSCAN_TIMEOUT": "1",
                           "SCAN_QUEUE": f"ethsource.bench.budget.{uuid.uuid4().hex[:6]}",
                           "SCAN_RETRY_BASE_DELAY": "0.5", "SCAN_MAX_ATTEMPTS": "8", "SCAN_CONCURRENCY": "64"})
        contracts.reload_settings()
        settings = get_settings()
        topology = Topology.from_settings(settings)
        consumer = Consumer(settings.rabbitmq_url, topology, contracts.settle_message, settings.scan_concurrency)
        addresses = [to_checksum("0x" + os.urandom(20).hex()) for _ in range(contract_count)]
        for address in addresses:
            contracts.submit(1, address)
        started = time.monotonic()
        consumer.start()
        errors = wait_terminal(addresses)
        elapsed = time.monotonic() - started
        consumer.stop()
        stats = fake_stats(fake_url)
        delete_queues(settings.rabbitmq_url, topology)
    budget = keys * rate
    steady = steady_rate(stats["per_key_per_second"], budget)
    return {
        "contracts": contract_count, "keys": keys, "rate_per_key": rate, "fault_rate": fault_rate,
        "elapsed_s": round(elapsed, 2), "etherscan_calls": stats["calls"],
        "calls_per_s_overall": round(stats["calls"] / elapsed, 2),
        "achieved_calls_per_s": steady, "budget_calls_per_s": budget, "share_of_budget": round(steady / budget, 3),
        "max_calls_per_key_per_s": max(stats["max_per_key_per_second"].values()),
        "over_budget_calls": stats["over_budget"], "rate_limited_answers": stats["rate_limited"],
        "injected_faults": stats["faults"], "errors_by_code": errors,
        "errors_from_faults": errors.get("etherscan_unavailable", 0) + errors.get("etherscan_rate_limited", 0),
    }


def steady_rate(per_key_per_second: dict[str, dict[str, int]], budget: float) -> float:
    """Calls per second once warm: from the first second that reached 90 % of the budget (the consumer opening its
    database connections comes before) to the last whole second before the queue ran dry."""
    totals: dict[int, int] = {}
    for counts in per_key_per_second.values():
        for second, calls in counts.items():
            totals[int(second)] = totals.get(int(second), 0) + calls
    warm = min((s for s, calls in totals.items() if calls >= 0.9 * budget), default=min(totals))
    seconds = [totals.get(s, 0) for s in range(warm, max(totals))]
    return round(sum(seconds) / len(seconds), 2) if seconds else 0.0


def wait_terminal(addresses: list[str]) -> dict[str, int]:
    conn = pymysql.connect(**{**connect_args(get_settings().database_url), "autocommit": True})
    placeholders = ", ".join(["%s"] * len(addresses))
    with conn.cursor() as cursor:
        while True:
            cursor.execute(f"SELECT COUNT(*) FROM contracts WHERE chain_id = 1 AND address IN ({placeholders})"
                           " AND status IN ('CREATED', 'PROCESS')", addresses)
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.2)
        cursor.execute(f"SELECT error_code, COUNT(*) FROM contracts WHERE chain_id = 1 AND address IN ({placeholders})"
                       " AND status = 'ERROR' GROUP BY error_code", addresses)
        errors = dict(cursor.fetchall())
    conn.close()
    return errors


def delete_queues(url: str, topology: Topology) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    for queue in topology.all_queues:
        connection.channel().queue_delete(queue)
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", type=int, default=600)
    parser.add_argument("--keys", type=int, default=3)
    parser.add_argument("--rate", type=float, default=10.0, help="calls/s per key")
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "mysql://root@127.0.0.1:3306/ethsource_bench")
    migrate(os.environ["DATABASE_URL"])
    results = [run(args.contracts, args.keys, args.rate, fault_rate) for fault_rate in (0.0, 0.1)]
    print(json.dumps(results, indent=2))
    print(f"\n{'faults':>6} {'calls/s':>8} {'budget':>7} {'share':>6} {'max/key/s':>9} {'over':>5} "
          f"{'ERROR from faults':>17}")
    for r in results:
        print(f"{r['fault_rate']:>6.0%} {r['achieved_calls_per_s']:>8} {r['budget_calls_per_s']:>7} "
              f"{r['share_of_budget']:>6.1%} {r['max_calls_per_key_per_s']:>9} {r['over_budget_calls']:>5} "
              f"{r['errors_from_faults']:>17}")


if __name__ == "__main__":
    main()

"""Benchmark of the shared Etherscan budget: `uv run python -m load.etherscan_budget [--instances 1 3 6]`.

For each fleet size, N scanner instances (`ethsource serve scan`, each its own process, as containers run them)
consume one queue of C fresh contracts (a message each) against the fake Etherscan configured with K keys at R
calls/s per key, which answers "Max rate limit reached" past that and counts the calls over budget. Reports the
calls over budget, the most calls one key made in one second, and the share of K x R the fleet used while it
had work (with --preload, the queue was full before the fleet started). With --fault-rate, that share of calls
fails transiently (5xx, hangs past the timeout, rate-limit answers).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

import pika
import pymysql

from ethsource import services
from ethsource.addresses import to_checksum
from ethsource.db import connect_args, migrate
from ethsource.queue import Topology, queue_stats
from ethsource.submission import Submission
from ethsource_local.fake_etherscan import FakeConfig, running
from ethsource_local.fake_etherscan import stats as fake_stats
from ethsource_local.processes import Process, stop_all, wait_until

SETTLE_TIMEOUT_S = 600


def run(args: argparse.Namespace, instances: int, logs: Path) -> dict:
    api_keys = tuple(f"bench-key-{n}" for n in range(args.keys))
    fault_rate = args.fault_rate
    fake = FakeConfig(api_keys=api_keys, rate_limit=args.rate, latency_ms=args.fake_latency_ms, jitter_ms=50,
                      hang_s=3, error_rate=fault_rate / 2, timeout_rate=fault_rate / 4,
                      rate_limit_rate=fault_rate / 4)
    with running(fake) as fake_url:
        # Etherscan alone: what is measured is its budget (a contract it does not verify ends not_verified).
        os.environ.update({"SOURCE_PROVIDERS": "etherscan", "ETHERSCAN_API_URL": fake_url,
                           "ETHERSCAN_API_KEYS": ",".join(api_keys),
                           "ETHERSCAN_RATE_LIMIT": str(args.rate), "ETHERSCAN_TIMEOUT": "1",
                           "SCAN_QUEUE": f"ethsource.bench.budget.{uuid.uuid4().hex[:6]}", "LOG_LEVEL": "WARNING",
                           "SCAN_RETRY_BASE_DELAY": "0.5", "SCAN_MAX_ATTEMPTS": "8", "SCAN_CONSUMER": "true"})
        services.forget()
        settings = services.services().settings
        topology = Topology.from_settings(settings)
        services.services().publisher.ping()  # declares the queues
        addresses = [to_checksum("0x" + os.urandom(20).hex()) for _ in range(args.contracts)]
        submitter = services.services().submitter

        def submit() -> None:
            for address in addresses:  # a message each, as the API sends them
                submitter.submit_many([Submission(1, address)])

        started = time.monotonic()
        if args.preload:
            submit()
        fleet = [scanner(port, logs / f"scanner-{instances}-{n}.log").start()
                 for n, port in enumerate(range(args.port, args.port + instances))]
        try:
            wait_until(lambda: queue_stats(settings.rabbitmq_url, [topology.queue])[topology.queue][1] == instances,
                       60, "the scanners all consume the queue")
            if not args.preload:
                started = time.monotonic()
                submit()
            errors = wait_terminal(addresses)
            elapsed = time.monotonic() - started
        finally:
            stop_all(fleet)
        stats = fake_stats(fake_url)
        delete_queues(settings.rabbitmq_url, topology)
    budget = args.keys * args.rate
    steady = steady_rate(stats["per_key_per_second"])
    return {
        "instances": instances, "contracts": args.contracts, "keys": args.keys, "rate_per_key": args.rate,
        "fault_rate": fault_rate, "elapsed_s": round(elapsed, 2), "etherscan_calls": stats["calls"],
        "achieved_calls_per_s": steady, "budget_calls_per_s": budget, "share_of_budget": round(steady / budget, 3),
        "max_calls_per_key_per_s": max(stats["max_per_key_per_second"].values()),
        "over_budget_calls": stats["over_budget"], "rate_limited_answers": stats["rate_limited"],
        "injected_faults": stats["faults"], "errors_by_code": errors,
    }


def scanner(port: int, log_path: Path) -> Process:
    log_path.unlink(missing_ok=True)
    return Process(log_path.stem, [sys.executable, "-m", "ethsource.cli", "serve", "scan", "--host", "127.0.0.1",
                                   "--port", str(port)], log_path=log_path)


def steady_rate(per_key_per_second: dict[str, dict[str, int]]) -> float:
    """Calls per second over the whole seconds between the fleet's first and its last call (both left out: a
    fleet starts and finishes within them)."""
    totals: dict[int, int] = {}
    for counts in per_key_per_second.values():
        for second, calls in counts.items():
            totals[int(second)] = totals.get(int(second), 0) + calls
    seconds = [totals.get(s, 0) for s in range(min(totals) + 1, max(totals))]
    return round(sum(seconds) / len(seconds), 2) if seconds else 0.0


def wait_terminal(addresses: list[str]) -> dict[str, int]:
    conn = pymysql.connect(**{**connect_args(services.services().settings.database_url), "autocommit": True})
    placeholders = ", ".join(["%s"] * len(addresses))
    with conn.cursor() as cursor:
        def settled() -> bool:
            cursor.execute(f"SELECT COUNT(*) FROM contracts WHERE chain_id = 1 AND address IN ({placeholders})"
                           " AND status IN ('CREATED', 'PROCESS')", addresses)
            return cursor.fetchone()[0] == 0

        wait_until(settled, SETTLE_TIMEOUT_S, "every contract is SUCCESS or ERROR", interval=0.2)
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
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 3, 6], help="fleet sizes, one run each")
    parser.add_argument("--contracts", type=int, default=300)
    parser.add_argument("--keys", type=int, default=2)
    parser.add_argument("--rate", type=float, default=5.0, help="calls/s per key")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--preload", action="store_true",
                        help="queue every contract before the scanners start (one process submits ~300 a second: a "
                             "budget above that would measure the submissions)")
    parser.add_argument("--fake-latency-ms", type=float, default=100.0)
    parser.add_argument("--port", type=int, default=18300, help="the scanners' first port")
    parser.add_argument("--logs", type=Path, default=Path("/tmp/ethsource-etherscan-budget"))
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DATABASE_URL", "mysql://root@127.0.0.1:3306/ethsource_bench")
    migrate(os.environ["DATABASE_URL"])
    results = [run(args, instances, args.logs) for instances in args.instances]
    print(json.dumps(results, indent=2))
    print(f"\n{'instances':>9} {'calls/s':>8} {'budget':>7} {'share':>6} {'max/key/s':>9} {'over':>5} {'errors':>7}")
    for r in results:
        print(f"{r['instances']:>9} {r['achieved_calls_per_s']:>8} {r['budget_calls_per_s']:>7} "
              f"{r['share_of_budget']:>6.1%} {r['max_calls_per_key_per_s']:>9} {r['over_budget_calls']:>5} "
              f"{sum(r['errors_by_code'].values()):>7}")


if __name__ == "__main__":
    main()

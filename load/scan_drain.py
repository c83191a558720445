"""Scanner benchmark: how fast `ethsource serve scan` drains a queue, and its CPU per contract.

    uv run --group load python -m load.scan_drain [--contracts 4000] [--processes 1] [--concurrency 32]

N fresh contracts are submitted while the scanner is paused (its consumers connected, SIGSTOP), then it drains
them against the fake Etherscan (200 ± 100 ms by default, in a process of its own, so its CPU is not counted).
It prints contracts/s and CPU ms per contract of the scanner's processes (uvicorn's supervisor and workers),
read from /proc. Its database (`--database-url`, default `ethsource_bench`) and queue (`ethsource.bench.drain`)
are emptied first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import psutil
import pymysql
from pika.exceptions import AMQPError

from ethsource import services
from ethsource.addresses import to_checksum
from ethsource.db import connect_args, migrate
from ethsource.errors import Unavailable
from ethsource.queue import Topology, queue_stats
from ethsource.submission import Submission
from ethsource_local.fake_etherscan import explorer_urls
from ethsource_local.runner import Layout

from . import system
from .bench import paused, serving
from .etherscan_budget import delete_queues, wait_terminal

QUEUE = "ethsource.bench.drain"


def consumers(url: str) -> int:
    """Consumers of the scanner's queue; 0 while it has not been declared yet."""
    try:
        return queue_stats(url, [QUEUE])[QUEUE][1]
    except (AMQPError, Unavailable):
        return 0


def run(args: argparse.Namespace, layout: Layout) -> dict:
    fake_url = f"{layout.url('fake-etherscan')}/v2/api"
    # Every explorer the fake's: the contracts Etherscan does not verify go on to its Sourcify and Blockscout.
    os.environ.update({**explorer_urls(fake_url), "ETHERSCAN_RATE_LIMIT": "1000000", "SOURCIFY_RATE_LIMIT": "1000000",
                       "BLOCKSCOUT_RATE_LIMIT": "1000000", "SCAN_QUEUE": QUEUE,
                       "SCAN_CONSUMER": "true", "SCAN_CONCURRENCY": str(args.concurrency),
                       "WEB_CONCURRENCY": str(args.processes), "LOG_LEVEL": "WARNING"})
    os.environ.pop("ETHERSCAN_API_KEYS", None)
    services.forget()
    settings = services.services().settings
    migrate(settings.database_url)
    delete_queues(settings.rabbitmq_url, Topology.from_settings(settings))
    with pymysql.connect(**{**connect_args(settings.database_url), "autocommit": True}) as conn, conn.cursor() as c:
        c.execute("DELETE FROM contract_sources")
        c.execute("DELETE FROM contracts")
    out = args.output_dir
    fake = [sys.executable, "-m", "ethsource_local.fake_etherscan", "--port", str(layout.port("fake-etherscan")),
            "--latency-ms", str(args.fake_latency_ms), "--jitter-ms", str(args.fake_jitter_ms)]
    scan = [sys.executable, "-m", "ethsource.cli", "serve", "scan", "--host", "127.0.0.1",
            "--port", str(layout.port("scan"))]

    def all_consuming(_log: str) -> bool:
        return consumers(settings.rabbitmq_url) == args.processes

    with serving(fake, out / "fake.log", ready=lambda log: "Uvicorn running" in log), \
            serving(scan, out / "scan.log", ready=all_consuming) as server:
        root = psutil.Process(server.pid)
        processes = [root, *root.children(recursive=True)]
        with paused(processes):
            addresses = [to_checksum("0x" + os.urandom(20).hex()) for _ in range(args.contracts)]
            for start in range(0, len(addresses), 200):
                services.services().submitter.submit_many([Submission(1, a) for a in addresses[start:start + 200]])
            cpu_before = system.usage({"scan": processes})["scan"]["cpu_s"]
            started = time.monotonic()
        errors = wait_terminal(addresses)
        elapsed = time.monotonic() - started
        cpu = system.usage({"scan": processes})["scan"]["cpu_s"] - cpu_before
    delete_queues(settings.rabbitmq_url, Topology.from_settings(settings))
    return {"contracts": args.contracts, "processes": args.processes, "concurrency": args.concurrency,
            "fake_latency_ms": args.fake_latency_ms, "fake_jitter_ms": args.fake_jitter_ms,
            "elapsed_s": round(elapsed, 2), "contracts_per_s": round(args.contracts / elapsed, 1),
            "cpu_ms_per_contract": round(1000 * cpu / args.contracts, 2), "errors_by_code": errors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.scan_drain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", type=int, default=4000)
    parser.add_argument("--processes", type=int, default=1, help="scanner processes (WEB_CONCURRENCY)")
    parser.add_argument("--concurrency", type=int, default=128, help="calls in flight per process (SCAN_CONCURRENCY)")
    parser.add_argument("--fake-latency-ms", type=float, default=200.0)
    parser.add_argument("--fake-jitter-ms", type=float, default=100.0)
    parser.add_argument("--port", type=int, default=18180, help="the scan function's port is this + 4, the fake's + 6")
    parser.add_argument("--database-url", default="mysql://root@127.0.0.1:3306/ethsource_bench",
                        help="emptied first: not a database you keep")
    parser.add_argument("--output-dir", type=Path, default=Path("/tmp/ethsource-scan-drain"), help="logs")
    args = parser.parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = args.database_url
    result = run(args, Layout(args.port))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load test: submit fresh addresses at a set rate for a set time, poll each to the end, report what happened.

    uv run --group load python -m load.loadtest peak --duration 60

Profiles: normal (100 submissions/s) and peak (1000/s); --rate overrides. Several worker processes share
the rate (open loop, see load/worker.py). The report goes to load/results/<timestamp>/ as report.json and
chart.png; a summary is printed. DATABASE_URL (the system's database) lets it check the final statuses.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ethsource.config import Settings

from . import report, system
from .worker import LATE_AFTER_S, Plan, work

PROFILES = {"normal": 100.0, "peak": 1000.0}
RESULTS_DIR = Path(__file__).resolve().parent / "results"
START_DELAY_S = 1.0  # time for the workers to start before the first submission is due
RSS_EVERY_S = 5.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m load.loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", nargs="?", choices=PROFILES, default="normal")
    parser.add_argument("--rate", type=float, help="submissions/s (default: the profile's)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of submitting (default 60)")
    parser.add_argument("--workers", type=int, default=2, help="load-generating processes (default 2)")
    parser.add_argument("--base-url", default=os.environ.get("BASE_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--output-dir", type=Path, help="default: load/results/<timestamp>")
    parser.add_argument("--drain-timeout", type=float, default=120.0,
                        help="seconds after the last submission to wait for every contract to settle (default 120)")
    parser.add_argument("--max-poll-rate", type=float,
                        help="cap on status polls/s, so a backlog cannot starve the submissions (default 2 x rate)")
    parser.add_argument("--chain-id", type=int, default=1)
    parser.add_argument("--chaos", type=float, default=0.0, metavar="RATE",
                        help="calls/s to the chaos routes while submitting (needs `ethsource run --chaos`)")
    parser.add_argument("--watch", action="store_true",
                        help="long-poll each pending contract (?wait=25, If-None-Match) instead of polling it once a "
                             "second; the waits are reported apart from the requests")
    parser.add_argument("--max-watches", type=int, default=1000, help="long-polls open at once (default 1000)")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    args = parser.parse_args(argv)
    args.rate = args.rate or PROFILES[args.profile]
    args.max_poll_rate = args.max_poll_rate or max(2 * args.rate, 100.0)
    args.output_dir = args.output_dir or RESULTS_DIR / datetime.now().strftime("%Y%m%d-%H%M%S")
    return args


def run(args: argparse.Namespace) -> dict:
    settings = Settings.from_env()
    ports = system.system_ports(args.base_url, settings.database_url, settings.rabbitmq_url)
    started_at = datetime.now(UTC)
    load_at_start = system.load_average()
    # fork: the workers inherit the imported modules, so they start at once.
    context = multiprocessing.get_context("fork")
    messages = context.Queue()
    start_at = time.monotonic() + START_DELAY_S
    plans = [Plan(index=i, workers=args.workers, base_url=args.base_url, rate=args.rate, duration=args.duration,
                  start_at=start_at, drain_timeout=args.drain_timeout, max_poll_rate=args.max_poll_rate,
                  chain_id=args.chain_id, chaos_rate=args.chaos, watch=args.watch, max_watches=args.max_watches)
             for i in range(args.workers)]
    workers = [context.Process(target=work, args=(plan, messages), name=f"load-worker-{plan.index}")
               for plan in plans]
    for process in workers:
        process.start()
    processes = system.find_processes(ports)
    budget_at_start = system.scanner_budget(args.base_url)
    if budget_at_start and budget_at_start["capacity_per_s"] < args.rate:
        print(f"note: the scanners' budget allows {budget_at_start['capacity_per_s']:g} calls/s, below the "
              f"{args.rate:g} submissions/s asked: contracts settle at that pace and a backlog remains after the run",
              file=sys.stderr)
    rss_timeline = [(0.0, system.usage(processes))]
    usage_at_start = rss_timeline[0][1]
    results, progress = {}, {}
    status_line = report.StatusLine(args, start_at)
    next_rss = start_at + RSS_EVERY_S
    while len(results) < len(workers):
        try:
            kind, index, payload = messages.get(timeout=0.5)
            if kind == "progress":
                progress[index] = payload
                status_line.show(progress)
            else:
                results[index] = payload
        except queue.Empty:
            if dead := [p.name for p in workers if p.exitcode not in (None, 0)]:
                raise SystemExit(f"load worker(s) failed: {', '.join(dead)}") from None
        if time.monotonic() >= next_rss:
            rss_timeline.append((round(time.monotonic() - start_at, 1), system.usage(processes)))
            next_rss += RSS_EVERY_S
    status_line.close()
    for process in workers:
        process.join()
    usage_at_end = system.usage(processes)
    rss_timeline.append((round(time.monotonic() - start_at, 1), usage_at_end))

    ordered = [results[i] for i in range(len(workers))]
    seen = {address: status for result in ordered
            for address, status in zip(result.contracts.addresses, result.contracts.last_status, strict=True)}
    database = system.compare_with_database(
        settings.database_url, args.chain_id, seen,
        refused=[address for result in ordered for address in result.contracts.refused],
        unanswered=[address for result in ordered for address in result.contracts.unanswered])
    summary = report.build(args, ordered, started_at=started_at, database=database)
    summary["processes"] = report.process_usage(usage_at_start, usage_at_end, rss_timeline)
    summary["budget"] = report.budget_use(budget_at_start, system.scanner_budget(args.base_url))
    summary["machine"] = {"cpus": os.cpu_count(), "load_average_start": load_at_start,
                          "load_average_end": system.load_average()}
    summary["late_after_ms"] = LATE_AFTER_S * 1000
    args.output_dir.mkdir(parents=True, exist_ok=True)
    report.write_json(summary, args.output_dir / "report.json")
    if not args.no_chart:
        report.write_chart(summary, args.output_dir / "chart.png")
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    summary = run(args)
    print(report.human_summary(summary, args.output_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark (`make bench`): the HTTP ceiling, submit and status alone at full speed, then the peak end to end.

Everything runs on this machine: a FastAPI hello-world served like a function (the ceiling), measured with
wrk directly and through the gateway (what the gateway's hop leaves of it); then the whole system (`ethsource
run` against its own database and queue, the fake Etherscan with realistic latency) with wrk submitting fresh
addresses closed loop, through the gateway and directly, and polling known ones; then a fresh system with
`make run`'s defaults under the `peak` load test. One table compares them; the numbers go to
load/results/bench-<timestamp>/bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pika
import pymysql

from ethsource.config import Settings
from ethsource.db import connect_args, database_name
from ethsource.queue import Topology
from ethsource.serving import PROJECT_ROOT
from ethsource_local.processes import Process, answers, started
from ethsource_local.runner import Layout, Runner

from . import loadtest, system
from .loadtest import RESULTS_DIR

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "bench.lua"
READY_TIMEOUT_S = 90
# Enough submissions to open every pool, few enough for `make run`'s scanner budget (about 100 contracts/s) to
# settle well within SETTLE_TIMEOUT_S: 3 s of a closed loop at 4 000/s did not.
WARM_UP_S = 1
SETTLE_TIMEOUT_S = 120


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m load.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10 s per phase instead of 30 s (wrk) and 60 s (peak)")
    parser.add_argument("--port", type=int, default=18080, help="the system's gateway; the next 7 ports are taken "
                                                                "too (default 18080)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--workers", type=int, default=2, help="load test worker processes (default 2)")
    parser.add_argument("--fake-latency-ms", type=float, default=200.0, help="the fake Etherscan's mean latency")
    parser.add_argument("--fake-jitter-ms", type=float, default=100.0, help="its spread around the mean")
    parser.add_argument("--database-url", default="mysql://root@127.0.0.1:3306/ethsource_bench")
    parser.add_argument("--scan-queue", default="ethsource.bench")
    parser.add_argument("--max-poll-rate", type=float, default=1000.0,
                        help="the peak's cap on status polls/s (default 1000: the original's stresser's)")
    parser.add_argument("--profile", action="store_true",
                        help="record the submit function with py-spy while wrk submits through the gateway")
    args = parser.parse_args(argv)
    args.wrk_s, args.peak_s, args.drain_s = (10, 10, 30) if args.quick else (30, 60, 120)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is needed: apt-get install -y wrk", file=sys.stderr)
        return 1
    out = RESULTS_DIR / f"bench-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True)
    # The system under test and this process (the load test checks the database) share these settings; the rest
    # are `make run`'s defaults (ethsource_local.runner): a process per core for the API functions, the fake
    # Etherscan playing 4 keys x 30 calls/s.
    os.environ.update({
        "DATABASE_URL": args.database_url, "SCAN_QUEUE": args.scan_queue, "LOG_LEVEL": "WARNING",
        "FAKE_ETHERSCAN_JITTER_MS": str(args.fake_jitter_ms)})
    os.environ.pop("ETHERSCAN_API_KEYS", None)  # the fake Etherscan
    os.environ.setdefault("WEB_CONCURRENCY", str(os.cpu_count() or 1))  # the ceiling's processes, as the API's
    result = {"started_at": datetime.now(UTC).isoformat(), "machine": machine(), "settings": {
        "wrk_s": args.wrk_s, "peak_s": args.peak_s, "connections": args.connections, "workers": args.workers,
        "fake_latency_ms": args.fake_latency_ms, "fake_jitter_ms": args.fake_jitter_ms,
        "scan_concurrency": os.environ.get("SCAN_CONCURRENCY", "default"),
        "web_concurrency": os.environ["WEB_CONCURRENCY"], "max_poll_rate": args.max_poll_rate}}
    layout = Layout(args.port)

    print(f"[1/3] hello-world ceiling, {args.wrk_s} s each", flush=True)
    # The hello-world where the status function would be, so that the gateway passes it the status route.
    hello = layout.url("status")
    through_gateway = f"http://127.0.0.1:{layout.gateway}/contracts/0x{'ab' * 20}"
    with serving([sys.executable, "-m", "load.hello", "--port", str(layout.port("status"))], out / "hello.log",
                 ready=lambda _log: answers(f"{hello}/async")):
        result["hello_sync"] = wrk(f"{hello}/sync", args)
        result["hello_async"] = wrk(f"{hello}/async", args)
        with serving(Runner(layout, Settings.from_env(), fake_latency_ms=0).gateway_command(),
                     out / "gateway-hello.log", ready=lambda _log: answers(through_gateway)):
            result["hello_gateway"] = wrk(through_gateway, args)

    print(f"[2/3] submit and status alone, closed loop, {args.connections} connections, {args.wrk_s} s each",
          flush=True)
    gateway = f"http://127.0.0.1:{layout.gateway}"
    # The fakes answer without limit here, so the warm-up's scans finish at once and the scanner can be paused.
    unlimited = dict.fromkeys(("ETHERSCAN_RATE_LIMIT", "SOURCIFY_RATE_LIMIT", "BLOCKSCOUT_RATE_LIMIT"), "1000000")
    with local_system(layout, args, out / "system-submit.log", **unlimited):
        warm_up(gateway, args)
        processes = system.find_processes(system.system_ports(gateway, args.database_url, rabbitmq_url()))
        # Alone: the scanner is paused (its queue grows), so submit has the machine; then once more with the
        # scanner working through what was submitted, as it would be.
        with paused(processes["scan"]):
            before = system.usage(processes)
            with profiling(processes.get("submit"), args, out):
                result["submit_gateway"] = wrk(gateway, args, "submit")
            measured = result["submit_gateway"]
            measured["cpu_share"] = cpu_share(before, system.usage(processes), args.wrk_s) | {
                "wrk": round(measured["wrk_cpu_s"] / args.wrk_s, 2)}
            result["submit_direct"] = wrk(layout.url("submit"), args, "submit")
            addresses = out / "addresses.txt"
            addresses.write_text("\n".join(known_addresses(args.database_url, 5000)) + "\n")
            result["status_gateway"] = wrk(gateway, args, "status", str(addresses))
        result["submit_while_scanning"] = wrk(gateway, args, "submit")

    print(f"[3/3] peak profile end to end, {args.peak_s} s", flush=True)
    with local_system(layout, args, out / "system-peak.log"):
        warm_up(gateway, args)
        peak_args = loadtest.parse_args(["peak", "--duration", str(args.peak_s), "--workers", str(args.workers),
                                         "--base-url", f"http://127.0.0.1:{layout.gateway}",
                                         "--max-poll-rate", str(args.max_poll_rate),
                                         "--drain-timeout", str(args.drain_s), "--output-dir", str(out / "peak")])
        peak = loadtest.run(peak_args)
        result["peak"] = {key: peak[key] for key in ("endpoints", "contracts", "database", "processes", "goals",
                                                     "budget")}
    result["machine"]["load_average_end"] = system.load_average()

    (out / "bench.json").write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    print(f"results: {out}/bench.json, peak report and chart in {out}/peak/")
    return 0


def machine() -> dict:
    return {"cpus": os.cpu_count(), "cpu_model": cpu_model(), "load_average_start": system.load_average(),
            "code": code_version()}


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (" with local changes" if git("status", "--porcelain") else "")


def cpu_model() -> str | None:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return None


def rabbitmq_url() -> str:
    return os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def wrk(url: str, args: argparse.Namespace, *script_args: str, seconds: float | None = None) -> dict:
    command = ["wrk", "-t1", f"-c{args.connections}", f"-d{seconds or args.wrk_s}s", "--timeout", "5s",
               "-s", str(WRK_SCRIPT), url, "--", *script_args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(line for line in completed.stdout.splitlines() if line.startswith("WRK_JSON "))
    measured = json.loads(line.removeprefix("WRK_JSON "))
    measured["rate_per_s"] = round(measured["requests"] / measured["duration_s"], 1)
    measured["wrk_cpu_s"] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2)
    return measured


@contextmanager
def serving(command: list[str], log_path: Path, ready: Callable[[str], bool], env: dict[str, str] | None = None):
    """Run a server process until the block ends; its output goes to log_path, and ready(output) says when."""
    log_path.unlink(missing_ok=True)  # each phase's log starts empty
    process = Process(log_path.stem, command, log_path=log_path, env={**os.environ, **(env or {})})
    with started(process, lambda: ready(process.log_text()), READY_TIMEOUT_S, f"it is ready (see {log_path})",
                 stop_timeout=60):
        yield process


def warm_up(url: str, args: argparse.Namespace) -> None:
    """A few seconds of submissions, then wait until they are scanned: a fresh system opens its connection
    pools on its first requests, and that start-up is not what the phases measure."""
    wrk(url, args, "submit", seconds=WARM_UP_S)
    conn = pymysql.connect(**{**connect_args(args.database_url), "autocommit": True})
    try:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        with conn.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute("SELECT COUNT(*) FROM contracts WHERE status IN ('CREATED', 'PROCESS')")
                if cursor.fetchone()[0] == 0:
                    return
                time.sleep(0.5)
    finally:
        conn.close()
    raise SystemExit(f"the warm-up's contracts were not scanned within {SETTLE_TIMEOUT_S} s")


def known_addresses(database_url: str, count: int) -> list[str]:
    conn = pymysql.connect(**connect_args(database_url))
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT address FROM contracts LIMIT %s", (count,))
            return [address for (address,) in cursor.fetchall()]
    finally:
        conn.close()


@contextmanager
def local_system(layout: Layout, args: argparse.Namespace, log_path: Path, **env: str):
    """`ethsource run` on a database and queue of its own, emptied before and after, with `env` over this
    process's environment."""
    forget_state(args)
    command = [sys.executable, "-m", "ethsource.cli", "run", "--port", str(layout.gateway),
               "--fake-latency-ms", str(args.fake_latency_ms)]
    try:
        with serving(command, log_path, ready=lambda output: "ethsource is running" in output, env=env):
            yield
    finally:
        forget_state(args)


def forget_state(args: argparse.Namespace) -> None:
    """Drop the bench database and queues, so each phase starts empty and no backlog is left behind."""
    conn = pymysql.connect(**connect_args(args.database_url, with_database=False))
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{database_name(args.database_url)}`")
    conn.close()
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url()))
    channel = connection.channel()
    for queue in Topology.from_settings(Settings.from_env()).all_queues:
        channel.queue_delete(queue)
    connection.close()


@contextmanager
def paused(processes):
    """The processes stopped (SIGSTOP) while the block runs. Taken when idle (after the warm-up's scans), the
    scanner holds no row locks; RabbitMQ keeps the messages, and they are scanned when it goes on."""
    for process in processes:
        process.suspend()
    try:
        yield
    finally:
        for process in processes:
            process.resume()


@contextmanager
def profiling(processes, args: argparse.Namespace, out: Path):
    """With --profile: py-spy samples the submit function while the block runs (collapsed stacks to a file)."""
    if not args.profile or not processes:
        yield
        return
    raw = out / "submit-profile.txt"
    # --gil: only samples holding the GIL, i.e. where the process's (one core of) Python CPU goes.
    # --subprocesses: the first process is uvicorn's supervisor when WEB_CONCURRENCY > 1; the workers are its children.
    command = ["uv", "run", "--no-project", "--with", "py-spy", "py-spy", "record", "--gil", "--nonblocking",
               "--subprocesses", "--format", "raw", "-o", str(raw), "-p", str(processes[0].pid)]
    recorder = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        recorder.wait(60)
    if raw.exists():
        print(top_frames(raw))


def top_frames(raw: Path, count: int = 15) -> str:
    """Where the submit function spent its Python CPU: the innermost frames, by share of samples."""
    frames, total = Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        total += int(samples)
        frames[stack.split(";")[-1]] += int(samples)
    lines = [f"submit profile ({total} samples, {raw}): innermost frames"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in frames.most_common(count)]
    return "\n".join(lines)


def cpu_share(before: dict, after: dict, seconds: float) -> dict:
    """Each process group's CPU use over the phase, in cores (1.0 = one core busy)."""
    return {name: round((after[name]["cpu_s"] - before[name]["cpu_s"]) / seconds, 2)
            for name in after if name in before}


def table(result: dict) -> str:
    peak = result["peak"]
    submit, status, contracts = peak["endpoints"]["submit"], peak["endpoints"]["status"], peak["contracts"]
    ceiling, gateway_ceiling = result["hello_async"]["rate_per_s"], result["hello_gateway"]["rate_per_s"]
    rows = [
        ("hello-world, def route", result["hello_sync"]),
        ("hello-world, async def (ceiling)", result["hello_async"]),
        ("hello-world, async def, via gateway", result["hello_gateway"]),
        ("submit alone, via gateway", result["submit_gateway"]),
        ("submit alone, direct", result["submit_direct"]),
        ("status alone, via gateway", result["status_gateway"]),
        ("submit via gateway, scanner working", result["submit_while_scanning"]),
    ]
    lines = [f"{'phase':<36}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}"]
    for name, measured in rows:
        latency = measured["latency_ms"]
        lines.append(f"{name:<36}{measured['rate_per_s']:>9.0f}" + "".join(
            f"{latency[k]:>9.1f}" for k in ("p50", "p90", "p99", "max")) + f"{sum(measured['errors'].values()):>8}")
    for name, stats in (("peak: submit (open loop, 1000/s)", submit), ("peak: status polls", status)):
        latency = stats["latency_ms"] or {k: float("nan") for k in ("p50", "p90", "p99", "max")}
        lines.append(f"{name:<36}{stats['rate_per_s'] or 0:>9.0f}" + "".join(
            f"{latency[k]:>9.1f}" for k in ("p50", "p90", "p99", "max")) + f"{stats['error_count']:>8}")
    to_success = contracts["submit_to_success_s"] or {}
    budget = peak.get("budget") or {}
    lines += [
        f"of the async ceiling: submit {result['submit_gateway']['rate_per_s'] / ceiling:.0%} via the gateway "
        f"({result['submit_direct']['rate_per_s'] / ceiling:.0%} direct), status "
        f"{result['status_gateway']['rate_per_s'] / ceiling:.0%} via the gateway; of the hello-world via the "
        f"gateway: submit {result['submit_gateway']['rate_per_s'] / gateway_ceiling:.0%}, status "
        f"{result['status_gateway']['rate_per_s'] / gateway_ceiling:.0%}",
        "CPU (cores) during submit alone via gateway: " + ", ".join(
            f"{name} {share:.2f}" for name, share in result["submit_gateway"]["cpu_share"].items()),
        f"peak: submit->SUCCESS p50 {to_success.get('p50')} s, p99 {to_success.get('p99')} s; "
        f"{contracts['not_settled']} of {contracts['accepted']} not settled at the end; scanner "
        f"{budget.get('calls_per_s')} calls/s of {budget.get('capacity_per_s')} allowed; late submissions "
        f"{submit['late']}",
        "peak goals: " + ", ".join(f"{name} {'MET' if goal['met'] else 'NOT met'}"
                                   for name, goal in peak["goals"].items()),
        f"machine: {result['machine']['cpus']} CPUs ({result['machine']['cpu_model']}), load average "
        f"{result['machine']['load_average_start']} at start, {result['machine']['load_average_end']} at end",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""The local deployment (`make run`) against the code: the gateway template routes every function, the runner
fills it with each function's port, and sweep runs on the runner's timer (no platform schedules it here). Then
`ethsource run` itself: a crashed function is started again while the others serve, and on shutdown the scanner
finishes its scans before the fake Etherscan stops."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import httpx
import psutil
import pymysql
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ethsource.config import Settings
from ethsource.db import connect_args
from ethsource.serving import FUNCTIONS
from ethsource_local.runner import GATEWAY_DIR, GATEWAY_NICENESS, Layout, Runner, may_raise_priority
from tests.conftest import PROJECT_ROOT, System, running_system, wait_until
from tests.scanning import fresh

PROCESS_NAMES = (*FUNCTIONS, "gateway", "fake-etherscan")

TEMPLATE = (GATEWAY_DIR / "ethsource.conf.template").read_text()


@pytest.fixture
def runner() -> Runner:
    return Runner(Layout(18080), Settings.from_env({}), fake_latency_ms=0)


def test_make_run_installs_and_starts_the_services_before_the_system():
    # `make -n` prints the recipe without running it: on a fresh machine, services.sh comes first.
    # Under `make test` this is a sub-make: without its parent's flags, and not announcing its directory.
    env = {name: value for name, value in os.environ.items() if name not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    recipe = subprocess.run(["make", "--no-print-directory", "-n", "run"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, check=True).stdout
    lines = recipe.splitlines()
    assert lines.index("local/services.sh --minimal") < len(lines) - 1
    assert lines[-1].endswith("run ethsource run --port 8080")


def test_the_gateway_has_an_upstream_and_the_functions_route_for_every_function():
    upstreams = dict(re.findall(r"^upstream (\w+)\s*\{\s*server \$\{(\w+)\};", TEMPLATE, re.M))
    assert upstreams == {name: f"{name.upper()}_UPSTREAM" for name in FUNCTIONS}
    routed = re.search(r"location ~ \^/functions/\(\?<function>([\w|]+)\)", TEMPLATE).group(1).split("|")
    assert sorted(routed) == sorted(FUNCTIONS)


def upstream_of(path: str) -> str:
    """The upstream the gateway template passes `path` to, as nginx picks its location: an exact match (`=`) first,
    then the regular expressions in their order."""
    locations = re.findall(r"^\s*location (=|~) (\S+)\s*\{[^\n]*?proxy_pass http://(\w+);", TEMPLATE, re.M)
    exact = {target: upstream for kind, target, upstream in locations if kind == "="}
    if path in exact:
        return exact[path]
    return next(upstream for kind, pattern, upstream in locations if kind == "~" and re.search(pattern, path))


def test_the_gateway_passes_every_api_route_to_its_function(http_routes):
    address = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
    for name, routes in http_routes.items():
        for _, path in routes:
            assert upstream_of(path.replace("{address}", address)) == name, path


def test_the_runner_fills_every_upstream_with_the_port_of_its_function(runner):
    site = runner.gateway_site()
    assert not re.findall(r"\$\{\w+\}", site)
    for name in FUNCTIONS:
        assert re.search(rf"^upstream {name}\s*\{{\s*server 127\.0\.0\.1:{runner.layout.port(name)};", site, re.M)
    ports = [runner.layout.port(name) for name in (*FUNCTIONS, "fake-etherscan", "runner")]
    assert ports == list(range(18081, 18081 + len(FUNCTIONS) + 2))


def test_the_runner_starts_sweep_on_a_one_minute_timer_unless_the_environment_sets_one(runner):
    assert runner.function_env("sweep", {})["SWEEP_INTERVAL"] == "60"
    assert runner.function_env("sweep", {"SWEEP_INTERVAL": "5"})["SWEEP_INTERVAL"] == "5"
    assert runner.function_env("sweep", {"SWEEP_INTERVAL": "0"})["SWEEP_INTERVAL"] == "0"  # off, as asked
    assert "SWEEP_INTERVAL" not in runner.function_env("scan", {})
    assert Settings.from_env(runner.function_env("sweep", {})).sweep_interval_s == 60


def pid_of(system: System, name: str) -> int:
    """The pid the runner last gave `name` (it logs each start and restart)."""
    return int(re.findall(rf"^{name} (?:started|restarted) \(pid (\d+)\)$", system.process.log_text(), re.M)[-1])


def runner_restarts(system: System) -> dict[str, float]:
    families = text_string_to_metric_families(httpx.get(f"{system.layout.url('runner')}/metrics").text)
    return {sample.labels["process"]: sample.value for family in families for sample in family.samples
            if sample.name == "ethsource_runner_restarts_total"}


@pytest.fixture
def system_env(service_env, db) -> dict[str, str]:
    """A system of the test's own (it is killed in parts, or stopped): the fake Etherscan, no sweeps."""
    return {**service_env, "ETHERSCAN_API_KEYS": "", "SWEEP_INTERVAL": "0", "SWEEP_AFTER": "86400"}


def test_a_killed_function_is_restarted_while_the_others_keep_serving(system_env, tmp_path):
    with running_system(system_env, tmp_path / "run.log") as system:
        scanner = pid_of(system, "scan")
        os.kill(scanner, signal.SIGKILL)
        address = fresh("solidity_single", 1)[0]
        # Submit (and the gateway in front of it) did not go down with the scanner.
        assert system.http.post("/contracts", json={"address": address}).status_code == 202
        wait_until(lambda: pid_of(system, "scan") != scanner, 30, "the runner restarts scan")
        assert system.wait_terminal(address)["status"] == "SUCCESS"  # scanned by the new scanner
        assert runner_restarts(system) == {**dict.fromkeys(PROCESS_NAMES, 0.0), "scan": 1.0}
        assert "scan exited with code -9; restarting it in 0.5 s" in system.process.log_text()


def test_the_gateway_outranks_the_functions_for_the_cpu_and_the_scanner_ranks_below_them(system_env, tmp_path):
    """At overload the gateway must get a core before the functions to refuse at once (where the runner may raise a
    priority), and the scanner, a background worker, after them. (pid_of gives uvicorn's first process; the
    processes it starts inherit its niceness.)"""
    def niceness(pid: int) -> int:
        return os.getpriority(os.PRIO_PROCESS, pid)

    with running_system(system_env, tmp_path / "run.log") as system:
        workers = psutil.Process(pid_of(system, "gateway")).children()
        submit = niceness(pid_of(system, "submit"))
        gateway = GATEWAY_NICENESS if may_raise_priority() else submit
        assert workers and all(niceness(worker.pid) == gateway for worker in workers)
        assert niceness(pid_of(system, "status")) == submit < niceness(pid_of(system, "scan"))


def test_on_shutdown_the_scanner_finishes_its_scans_before_the_fake_etherscan_stops(system_env, tmp_path):
    # Two calls at a time, 0.3 s each: ten contracts take the scanner 1.5 s, most of it after the stop.
    addresses = fresh("solidity_single", 10)
    with running_system({**system_env, "SCAN_CONCURRENCY": "2"}, tmp_path / "run.log", fake_latency_ms=300) as system:
        assert system.http.post("/contracts/batch", json={"contracts": [{"address": a} for a in addresses]}).is_success
        wait_until(lambda: system.fake_calls(), 10, "the scanner calls the fake Etherscan")
    # The system has stopped (with exit code 0): every scan the scanner held had the fake to answer it.
    with pymysql.connect(**connect_args(system_env["DATABASE_URL"])) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT status, attempts FROM contracts WHERE chain_id = 1 AND address IN"
                       f" ({', '.join(['%s'] * len(addresses))})", addresses)
        assert sorted(cursor.fetchall()) == [("SUCCESS", 1)] * len(addresses)


def test_signals_in_quick_succession_stop_the_runner(system_env, tmp_path):
    """TERM to `uv run` and its child together, or Ctrl-C pressed twice: the runner stops all the same. (Its
    handler once set a threading.Event, whose lock a second signal could find held by the first: a deadlock seen
    once after a load run, too rare to bring about here; the handler now only sets a flag.)"""
    with running_system(system_env, tmp_path / "run.log") as system:
        for signal_number in (signal.SIGTERM, signal.SIGTERM, signal.SIGINT, signal.SIGINT):
            system.process.signal(signal_number)
        wait_until(lambda: not system.process.running, 60, "the runner stops")

"""Runs the whole function set on one machine: each function as its own process behind an nginx gateway.

Without ETHERSCAN_API_KEYS the fake explorers run too (Etherscan, Sourcify, Blockscout) and the functions are
pointed at them, its Etherscan playing a large paid plan (FAKE_PLAN_KEYS keys at FAKE_PLAN_RATE calls/s each, or
ETHERSCAN_RATE_LIMIT), and Sourcify and Blockscout as generous (FAKE_PLAN_KEYS x FAKE_PLAN_RATE calls/s each, or
their own *_RATE_LIMIT): a seventh of random addresses goes on to them, and at their public rates (2 and 3/s)
a load run would leave a backlog that looks broken. The API functions run a process per core (WEB_CONCURRENCY,
when not set), the scanner one. A process that crashes is started again (ethsource_local.supervisor); the
runner's restarts are Prometheus metrics on its own port.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

import pika
import pymysql
from prometheus_client import start_http_server

from ethsource.config import Settings
from ethsource.db import connect_args, migrate
from ethsource.serving import FUNCTIONS, HTTP_FUNCTIONS, PROJECT_ROOT
from ethsource_local.fake_etherscan import explorer_urls

from .processes import Process, ProcessFailed, answers, stop_all, wait_until
from .supervisor import REGISTRY, Supervisor

GATEWAY_DIR = PROJECT_ROOT / "local" / "gateway"
# Seconds between sweeps when SWEEP_INTERVAL is not set: the platforms' schedulers run sweep every minute.
LOCAL_SWEEP_INTERVAL = "60"
FAKE_PLAN_KEYS, FAKE_PLAN_RATE = 4, 30
# Requests the gateway hands each of submit and status at once (see the template's admission comment): about a
# quarter of a second of the peak's 1 000/s. At 128 a busy 2-core machine's passing stalls refused 100-700
# submissions of the 60 s peak; at 256 none (docs/performance.md).
GATEWAY_ADMITTED = 256
# The gateway refuses what the functions cannot take, so it must not wait for the CPU behind them: at overload its
# worker waited 0.7 s of each second for a core (0.3 s at this niceness) and callers waited seconds for a 503.
# Raising a priority takes CAP_SYS_NICE (root has it, but not in every container); without it, the functions' own.
GATEWAY_NICENESS = -10
CAP_SYS_NICE = 23  # its bit in a capability set (linux/capability.h)
# What listens behind the gateway, in the order of their ports: the gateway's + 1, + 2, ...
PROCESSES = (*FUNCTIONS, "fake-etherscan", "runner")  # runner: its metrics
# Stopped in this order, each group together: nothing new comes in; the functions finish what they hold (the
# scanner its scans, against explorers still answering); the fake explorers last.
SHUTDOWN_ORDER = (("gateway",), FUNCTIONS, ("fake-etherscan",))
SUPERVISE_INTERVAL_S = 0.2

HOW_TO_GET_SERVICES = """\
  On Debian/Ubuntu, `make run` (or `local/services.sh`) installs and starts MariaDB, RabbitMQ and nginx.
  With Docker, `docker compose -f local/docker-compose.yaml up` runs the whole stack instead.
  Or point DATABASE_URL / RABBITMQ_URL at servers you already have."""


@dataclass(frozen=True)
class Layout:
    """Ports of one local deployment: the gateway's, and the next ones for the processes behind it."""

    gateway: int = 8080

    def port(self, name: str) -> int:
        return self.gateway + 1 + PROCESSES.index(name)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    @property
    def run_dir(self) -> Path:
        return PROJECT_ROOT / ".run" / str(self.gateway)


class Runner:
    def __init__(self, layout: Layout, settings: Settings, *, fake_latency_ms: float):
        self.layout, self.settings = layout, settings
        self.fake_latency_ms = fake_latency_ms
        self.processes: dict[str, Process] = {}
        # A plain flag, set by the signal handlers: an Event takes a lock in set(), and a second signal arriving
        # while the first handler (or the main thread's wait) holds it deadlocked the runner (TERM sent to `uv run`
        # and its child together).
        self.stop_requested = False

    def check_services(self) -> list[str]:
        problems = []
        try:
            pymysql.connect(**connect_args(self.settings.database_url, with_database=False)).close()
        except pymysql.err.Error as exc:
            problems.append(f"MySQL is not reachable at DATABASE_URL ({exc.args[0]}: {exc.args[-1]})")
        try:
            params = pika.URLParameters(self.settings.rabbitmq_url)
            params.connection_attempts, params.socket_timeout = 1, 3
            pika.BlockingConnection(params).close()
        except pika.exceptions.AMQPError as exc:
            problems.append(f"RabbitMQ is not reachable at RABBITMQ_URL ({type(exc).__name__})")
        return problems

    def start(self) -> None:
        try:
            start_http_server(self.layout.port("runner"), addr="127.0.0.1", registry=REGISTRY)
        except OSError as exc:
            raise RuntimeError(f"the runner's metrics port {self.layout.port('runner')}: {exc.strerror}") from None
        env = dict(os.environ)
        if not self.settings.etherscan_api_keys:
            keys = ",".join(f"local-fake-key-{n}" for n in range(1, FAKE_PLAN_KEYS + 1))
            rate = env.get("ETHERSCAN_RATE_LIMIT") or str(FAKE_PLAN_RATE)
            generous = str(FAKE_PLAN_KEYS * FAKE_PLAN_RATE)
            env |= {**explorer_urls(f"{self.layout.url('fake-etherscan')}/v2/api"), "ETHERSCAN_API_KEYS": keys,
                    "ETHERSCAN_RATE_LIMIT": rate, "SOURCIFY_RATE_LIMIT": env.get("SOURCIFY_RATE_LIMIT") or generous,
                    "BLOCKSCOUT_RATE_LIMIT": env.get("BLOCKSCOUT_RATE_LIMIT") or generous}
            self._spawn("fake-etherscan", [sys.executable, "-m", "ethsource_local.fake_etherscan",
                                           "--port", str(self.layout.port("fake-etherscan")),
                                           "--latency-ms", str(self.fake_latency_ms), "--api-keys", keys,
                                           "--rate-limit", rate], env)
        for name in FUNCTIONS:
            self._spawn(name, [sys.executable, "-m", "ethsource.cli", "serve", name, "--host", "127.0.0.1",
                               "--port", str(self.layout.port(name))], self.function_env(name, env))
        self._spawn("gateway", self.gateway_command(), env, stop_signal=signal.SIGQUIT)  # nginx: graceful stop

    @staticmethod
    def function_env(name: str, env: Mapping[str, str]) -> dict[str, str]:
        """The environment a function runs with here, where no platform pushes messages or keeps a schedule."""
        function_env = {**env, "POWERTOOLS_SERVICE_NAME": name}
        if name in HTTP_FUNCTIONS:
            function_env.setdefault("WEB_CONCURRENCY", str(os.cpu_count() or 1))
        if name == "scan":
            function_env["SCAN_CONSUMER"] = "true"
        if name == "sweep":
            function_env["SWEEP_INTERVAL"] = env.get("SWEEP_INTERVAL") or LOCAL_SWEEP_INTERVAL
        return function_env

    def gateway_site(self) -> str:
        """The gateway's nginx site: the template with every function's upstream at its port here."""
        return Template((GATEWAY_DIR / "ethsource.conf.template").read_text()).safe_substitute(
            GATEWAY_PORT=f"127.0.0.1:{self.layout.gateway}",
            GATEWAY_STATIC=str(GATEWAY_DIR),
            SUBMIT_ADMITTED=str(GATEWAY_ADMITTED), STATUS_ADMITTED=str(GATEWAY_ADMITTED),
            **{f"{name.upper()}_UPSTREAM": f"127.0.0.1:{self.layout.port(name)}" for name in FUNCTIONS},
        )

    def gateway_command(self) -> list[str]:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise SystemExit("nginx (the local gateway) is missing: `make run` installs it (nginx-light)")
        run_dir = self.layout.run_dir
        (run_dir / "tmp").mkdir(parents=True, exist_ok=True)
        (run_dir / "ethsource.conf").write_text(self.gateway_site())
        priority = f"worker_priority {GATEWAY_NICENESS};\n" if may_raise_priority() else ""
        (run_dir / "nginx.conf").write_text(
            f"worker_processes 1;\n{priority}error_log stderr warn;\npid nginx.pid;\n"
            "events { worker_connections 8192; }\n"
            "http {\n  access_log off;\n  client_body_temp_path tmp; proxy_temp_path tmp;\n"
            "  fastcgi_temp_path tmp; uwsgi_temp_path tmp; scgi_temp_path tmp;\n"
            "  include ethsource.conf;\n}\n"
        )
        return [nginx, "-p", str(run_dir), "-c", "nginx.conf", "-g", "daemon off;"]

    def _spawn(self, name: str, command: list[str], env: dict, stop_signal: int = signal.SIGTERM) -> None:
        # Their output is the runner's: one terminal (or log file) shows every process's logs.
        process = self.processes[name] = Process(name, command, env=env, stop_signal=stop_signal).start()
        print(f"{name} started (pid {process.pid})", file=sys.stderr, flush=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Every process answering; one that exits meanwhile fails the start (a restart would not mend that)."""
        urls = {name: f"{self.layout.url(name)}/healthz" for name in FUNCTIONS}
        urls["gateway"] = f"http://127.0.0.1:{self.layout.gateway}/healthz"
        if "fake-etherscan" in self.processes:
            urls["fake-etherscan"] = f"{self.layout.url('fake-etherscan')}/_fake/stats"
        deadline = time.monotonic() + timeout
        for name, url in urls.items():
            wait_until(lambda url=url: self._all_running() and answers(url), max(0.0, deadline - time.monotonic()),
                       f"{name} answers at {url}", interval=0.2)

    def _all_running(self) -> bool:
        if self.stop_requested:
            raise RuntimeError("asked to stop while starting")
        for process in self.processes.values():
            if not process.running:
                raise ProcessFailed(f"{process.name} exited with code {process.returncode} while starting")
        return True

    def supervise(self) -> None:
        """Until stop is requested: restart what crashes. GaveUp when one crashes too often."""
        supervisor = Supervisor(self.processes)
        while not self.stop_requested:
            time.sleep(SUPERVISE_INTERVAL_S)
            if not self.stop_requested:  # asked while asleep: what the same signal stopped is not to be restarted
                supervisor.check()

    def request_stop(self, *_signal) -> None:
        self.stop_requested = True

    def stop(self) -> None:
        for group in SHUTDOWN_ORDER:
            stop_all([self.processes[name] for name in group if name in self.processes], timeout=30)

    def describe(self) -> str:
        base = f"http://127.0.0.1:{self.layout.gateway}"
        lines = [f"ethsource is running. API: {base}  (OpenAPI: {base}/openapi.json)"]
        for name in FUNCTIONS:
            lines.append(f"  {name:<15} {self.layout.url(name)}  (health {base}/functions/{name}/healthz,"
                         f" metrics {base}/functions/{name}/metrics)")
        interval = float(self.function_env("sweep", os.environ)["SWEEP_INTERVAL"])
        when = f"every {interval:g} s" if interval > 0 else "only on request (SWEEP_INTERVAL=0)"
        lines.append(f"  {'':<15} sweep queues again the contracts stuck over {self.settings.sweep_after_s:g} s, "
                     f"{when}; one now: curl -X POST {base}/functions/sweep/")
        etherscan = (f"fake, {self.layout.url('fake-etherscan')}/v2/api ({FAKE_PLAN_KEYS} keys at "
                     f"{os.environ.get('ETHERSCAN_RATE_LIMIT') or FAKE_PLAN_RATE} calls/s each)"
                     if "fake-etherscan" in self.processes else self.settings.etherscan_api_url)
        lines.append(f"  {'etherscan':<15} {etherscan}")
        lines.append(f"  {'runner':<15} restarts what exits; its metrics {self.layout.url('runner')}/metrics")
        if self.settings.chaos_endpoints:
            lines.append(f"  {'chaos':<15} POST {base}/functions/<function>/_chaos/log?level=error,"
                         " …/_chaos/error, …/_chaos/delay?max_ms=2000")
        lines.append(f"Try: curl -X POST {base}/contracts -H 'content-type: application/json'"
                     " -d '{\"address\": \"0xdAC17F958D2ee523a2206206994597C13D831ec7\"}'")
        lines.append("Ctrl-C stops everything.")
        return "\n".join(lines)


def run(gateway_port: int, fake_latency_ms: float) -> int:
    settings = Settings.from_env()
    runner = Runner(Layout(gateway_port), settings, fake_latency_ms=fake_latency_ms)
    if problems := runner.check_services():
        print("Cannot start ethsource:\n" + "\n".join(f"  - {p}" for p in problems) + "\n" + HOW_TO_GET_SERVICES,
              file=sys.stderr)
        return 1
    applied = migrate(settings.database_url)
    print(f"database ready ({len(applied)} migrations applied)", flush=True)
    signal.signal(signal.SIGTERM, runner.request_stop)
    signal.signal(signal.SIGINT, runner.request_stop)
    try:
        runner.start()
        runner.wait_ready()
        print(runner.describe(), flush=True)
        runner.supervise()
        return 0
    except (RuntimeError, TimeoutError) as exc:  # ProcessFailed and GaveUp are RuntimeErrors
        print(f"ethsource stopped: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        runner.stop()


def may_raise_priority() -> bool:
    """Whether this process holds CAP_SYS_NICE, which raising a process's priority takes."""
    status = Path("/proc/self/status").read_text()
    effective = next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:"))
    return bool(int(effective, 16) >> CAP_SYS_NICE & 1)

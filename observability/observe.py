"""`make observe`: Prometheus, Alertmanager and node-exporter from Debian's packages, watching `make run`.

The scrape jobs are those of prometheus/prometheus.yml (the docker-compose config): each compose `host:port`
is rewritten to the matching process on this machine (the functions at the ports of the runner's Layout),
and the jobs with nothing to scrape here are left out. Alertmanager gets alertmanager.yml.sample with the
Telegram settings from the environment.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import socket
import sys
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template

import yaml

from ethsource.serving import FUNCTIONS, PROJECT_ROOT
from ethsource_local.processes import Process, ProcessFailed, answers, stop_all, wait_until
from ethsource_local.runner import Layout

OBSERVABILITY = Path(__file__).resolve().parent
PROMETHEUS_CONFIG = OBSERVABILITY / "prometheus" / "prometheus.yml"
ALERTMANAGER_SAMPLE = OBSERVABILITY / "alertmanager" / "alertmanager.yml.sample"
COMPOSE_FUNCTION_PORT = 8080  # every function container listens on PORT=8080 (local/docker-compose.yaml)
TELEGRAM_SETTINGS = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")
# Exporters `make observe` does not start: scraped when something already answers at their usual port.
OPTIONAL_TARGETS = {
    "rabbitmq:15692": ("127.0.0.1:15692", "enable its plugin: rabbitmq-plugins enable rabbitmq_prometheus"),
    "mysqld-exporter:9104": ("127.0.0.1:9104", "run prometheus-mysqld-exporter (a Debian package) on :9104"),
}
DEBIAN_PACKAGES = {"prometheus": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager",
                   "prometheus-node-exporter": "prometheus-node-exporter"}  # binary: package


def native_addresses(layout: Layout, *, prometheus: int, alertmanager: int, node_exporter: int) -> dict[str, str]:
    """Where each compose target of prometheus.yml is on this machine."""
    addresses = {f"{name}:{COMPOSE_FUNCTION_PORT}": f"127.0.0.1:{layout.port(name)}" for name in FUNCTIONS}
    addresses["localhost:9090"] = f"127.0.0.1:{prometheus}"
    addresses["alertmanager:9093"] = f"127.0.0.1:{alertmanager}"
    addresses["node-exporter:9100"] = f"127.0.0.1:{node_exporter}"
    return addresses


def runner_address(layout: Layout) -> str:
    return f"127.0.0.1:{layout.port('runner')}"


def prometheus_config(addresses: Mapping[str, str], runner: str | None = None) -> dict:
    """prometheus.yml with its targets moved to `addresses`; jobs and Alertmanagers without one are left out.
    With `runner` (host:port), a job for the local runner's own metrics (its restarts), which compose has not."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["rule_files"] = [str(PROMETHEUS_CONFIG.parent / pattern) for pattern in config.get("rule_files", [])]
    config["scrape_configs"] = [job for job in (_relocated(job, addresses) for job in config["scrape_configs"]) if job]
    if runner:
        config["scrape_configs"].append({"job_name": "ethsource-runner", "static_configs": [{"targets": [runner]}]})
    managers = [m for m in (_relocated(m, addresses) for m in config.get("alerting", {}).get("alertmanagers", [])) if m]
    if managers:
        config["alerting"]["alertmanagers"] = managers
    else:
        config.pop("alerting", None)
    return config


def _relocated(section: dict, addresses: Mapping[str, str]) -> dict | None:
    groups = []
    for group in section.get("static_configs", []):
        if targets := [addresses[target] for target in group["targets"] if target in addresses]:
            groups.append({**group, "targets": targets})
    return {**section, "static_configs": groups} if groups else None


def alertmanager_config(env: Mapping[str, str]) -> str:
    """The sample with the Telegram settings from `env`; without them, alerts only show in Alertmanager's UI."""
    telegram = {name: env.get(name, "") for name in TELEGRAM_SETTINGS}
    sample = Template(ALERTMANAGER_SAMPLE.read_text())
    if all(telegram.values()):
        return sample.substitute(telegram)
    config = yaml.safe_load(sample.substitute(dict.fromkeys(TELEGRAM_SETTINGS, "0")))
    for receiver in config["receivers"]:
        receiver.pop("telegram_configs", None)
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    ready_url: str


def prometheus(config: Path, data_dir: Path, port: int) -> Service:
    return Service("prometheus", ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={data_dir}",
                                  f"--web.listen-address=127.0.0.1:{port}"], f"http://127.0.0.1:{port}/-/ready")


def alertmanager(config: Path, data_dir: Path, port: int) -> Service:
    # An empty cluster address: a single Alertmanager, no gossip port to collide with.
    return Service("alertmanager", ["prometheus-alertmanager", f"--config.file={config}",
                                    f"--storage.path={data_dir}", f"--web.listen-address=127.0.0.1:{port}",
                                    "--cluster.listen-address="], f"http://127.0.0.1:{port}/-/ready")


def node_exporter(port: int) -> Service:
    return Service("node-exporter", ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}"],
                   f"http://127.0.0.1:{port}/metrics")


@contextmanager
def running(services: list[Service], log_dir: Path, timeout: float = 30) -> Iterator[dict[str, Process]]:
    """Starts the services (output in log_dir/<name>.log), waits until each answers, stops them on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    processes: dict[str, Process] = {}
    try:
        for service in services:
            (log_dir / f"{service.name}.log").unlink(missing_ok=True)
            processes[service.name] = Process(service.name, service.command,
                                              log_path=log_dir / f"{service.name}.log").start()
        for service in services:
            processes[service.name].wait_ready(lambda url=service.ready_url: answers(url), timeout,
                                               f"it answers at {service.ready_url}")
        yield processes
    finally:
        stop_all(processes.values(), timeout=10)


def _port_taken(port: int) -> bool:
    with closing(socket.socket()) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: only a listener counts
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway-port", type=int, default=8080, help="the port of `make run` (its PORT)")
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument("--alertmanager-port", type=int, default=9093)
    parser.add_argument("--node-exporter-port", type=int, default=9100)
    args = parser.parse_args(argv)

    if missing := [package for binary, package in DEBIAN_PACKAGES.items() if not shutil.which(binary)]:
        print(f"missing: {' '.join(missing)}; `make observe` installs them (or: apt-get install {' '.join(missing)})",
              file=sys.stderr)
        return 1
    ports = {"Prometheus": args.prometheus_port, "Alertmanager": args.alertmanager_port,
             "node-exporter": args.node_exporter_port}
    if taken := [f"{name} :{port}" for name, port in ports.items() if _port_taken(port)]:
        print(f"port taken: {', '.join(taken)}. Debian's own services may hold them (`systemctl disable --now "
              "prometheus prometheus-alertmanager prometheus-node-exporter`), or choose other ports: "
              "make observe PROMETHEUS_PORT=… ALERTMANAGER_PORT=… NODE_EXPORTER_PORT=…", file=sys.stderr)
        return 1

    layout = Layout(args.gateway_port)
    addresses = native_addresses(layout, prometheus=args.prometheus_port, alertmanager=args.alertmanager_port,
                                 node_exporter=args.node_exporter_port)
    left_out = []
    for compose_target, (address, how) in OPTIONAL_TARGETS.items():
        if answers(f"http://{address}/metrics"):
            addresses[compose_target] = address
        else:
            left_out.append(f"{compose_target.split(':')[0]} (to scrape it, {how})")

    run_dir = PROJECT_ROOT / ".run" / "observe"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(addresses, runner_address(layout)),
                                                              sort_keys=False))
    (run_dir / "alertmanager.yml").write_text(alertmanager_config(os.environ))
    services = [node_exporter(args.node_exporter_port),
                alertmanager(run_dir / "alertmanager.yml", run_dir / "alertmanager-data", args.alertmanager_port),
                prometheus(run_dir / "prometheus.yml", run_dir / "prometheus-data", args.prometheus_port)]

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
    try:
        with running(services, run_dir) as processes:
            print(f"Prometheus    http://127.0.0.1:{args.prometheus_port}  (targets: /targets, alerts: /alerts)\n"
                  f"Alertmanager  http://127.0.0.1:{args.alertmanager_port}\n"
                  f"node-exporter http://127.0.0.1:{args.node_exporter_port}/metrics\n"
                  f"scraping the functions of `make run` at {', '.join(layout.url(name) for name in FUNCTIONS)}",
                  flush=True)
            if not answers(f"http://127.0.0.1:{layout.gateway}/healthz"):
                print(f"  (nothing answers at :{layout.gateway} yet: start `make run` too)")
            for job in left_out:
                print(f"  not scraped: {job}")
            if not all(os.environ.get(name) for name in TELEGRAM_SETTINGS):
                print("  alerts stay in Alertmanager: set TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID to get them in "
                      "Telegram (docs/observability.md)")
            print(f"configs and logs: {run_dir}. Ctrl-C stops everything.", flush=True)
            wait_until(lambda: not all(process.running for process in processes.values()), math.inf,
                       "one of them exits", interval=0.5)
            exited = [name for name, process in processes.items() if not process.running]
            print(f"stopped: {', '.join(exited)} exited (see its log in {run_dir})", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 0
    except ProcessFailed as exc:
        print(f"observe stopped: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

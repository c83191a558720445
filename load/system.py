"""What the load test reads from the system under test besides its answers: processes, database, scanner budget."""

from __future__ import annotations

import os
import time
from collections import Counter
from urllib.parse import urlsplit

import httpx
import psutil
import pymysql
from prometheus_client.parser import text_string_to_metric_families

from ethsource.db import connect_args
from ethsource.models import Status
from ethsource.serving import FUNCTIONS
from ethsource_local.runner import Layout

DB_CHUNK = 5000  # addresses per IN (...) query


def system_ports(base_url: str, database_url: str, rabbitmq_url: str) -> dict[str, int]:
    """The listening port of each part of a local deployment (`ethsource run`'s layout behind the gateway)."""
    layout = Layout(urlsplit(base_url).port or 80)
    return {
        "gateway": layout.gateway,
        **{name: layout.port(name) for name in FUNCTIONS},
        "fake-etherscan": layout.port("fake-etherscan"),
        "mariadb": urlsplit(database_url).port or 3306,
        "rabbitmq": urlsplit(rabbitmq_url).port or 5672,
    }


def find_processes(ports: dict[str, int]) -> dict[str, list[psutil.Process]]:
    """The processes listening on each port: nginx's master and workers, uvicorn's supervisor and its workers
    (WEB_CONCURRENCY > 1) all hold the one socket. Asked of each process, since the system-wide list names
    only one holder per socket."""
    by_port: dict[int, list[psutil.Process]] = {}
    for process in psutil.process_iter():
        try:
            listening = {conn.laddr.port for conn in process.net_connections(kind="tcp")
                         if conn.status == psutil.CONN_LISTEN}
        except psutil.Error:
            continue
        for port in listening:
            by_port.setdefault(port, []).append(process)
    found = {name: by_port.get(port, []) for name, port in ports.items()}
    # This process and its other children (load workers; for the bench also wrk and the runner).
    named = {process.pid for group in found.values() for process in group}
    found["load generator"] = [process for process in (psutil.Process(), *psutil.Process().children(recursive=True))
                               if process.pid not in named]
    return {name: processes for name, processes in found.items() if processes}


def usage(processes: dict[str, list[psutil.Process]]) -> dict[str, dict]:
    """RSS (MiB) and CPU seconds so far of each named group of processes; gone processes count as zero."""
    result = {}
    for name, group in processes.items():
        rss = cpu = 0.0
        for process in group:
            try:
                with process.oneshot():
                    rss += process.memory_info().rss
                    times = process.cpu_times()
                    cpu += times.user + times.system + times.children_user + times.children_system
            except psutil.Error:
                continue
        result[name] = {"rss_mib": round(rss / 2**20, 1), "cpu_s": round(cpu, 2)}
    return result


def statuses_in_database(database_url: str, chain_id: int, addresses: list[str]) -> dict[str, str]:
    """The status of each of these addresses in the contracts table (absent ones are missing)."""
    conn = pymysql.connect(**connect_args(database_url))
    try:
        with conn.cursor() as cursor:
            found = {}
            for start in range(0, len(addresses), DB_CHUNK):
                chunk = addresses[start:start + DB_CHUNK]
                cursor.execute(
                    f"SELECT address, status FROM contracts WHERE chain_id = %s"
                    f" AND address IN ({', '.join(['%s'] * len(chunk))})",
                    (chain_id, *chunk),
                )
                found.update(cursor.fetchall())
            return found
    finally:
        conn.close()


def compare_with_database(database_url: str, chain_id: int, seen: dict[str, str], *, refused: list[str],
                          unanswered: list[str]) -> dict:
    """Counts by status in MySQL for the run's accepted addresses next to what the polls saw last.

    Also how many refused submissions the database holds anyway (a 503 must write nothing), and how many of the
    unanswered ones (a caller that gave up may have been taken: it is then scanned, as promised).
    """
    try:
        in_db = statuses_in_database(database_url, chain_id, [*seen, *refused, *unanswered])
    except pymysql.err.Error as exc:
        return {"checked": False, "reason": f"{type(exc).__name__}: {exc.args[-1]}"}
    disagreeing = sum(1 for address, status in seen.items() if in_db.get(address) != status)
    zeros = {status.value: 0 for status in Status}
    return {
        "checked": True,
        "database": zeros | Counter(in_db[address] for address in seen if address in in_db),
        "polls": zeros | Counter(seen.values()),
        "missing": sum(1 for address in seen if address not in in_db),
        "refused_in_database": sum(1 for address in refused if address in in_db),
        "unanswered_in_database": sum(1 for address in unanswered if address in in_db),
        "disagreeing": disagreeing,
        "agrees": disagreeing == 0,
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def scanner_budget(base_url: str) -> dict | None:
    """The scan function's budget as its metrics say (through the gateway): calls let out so far and the calls/s
    the budget allows; None when they cannot be read."""
    try:
        text = httpx.get(f"{base_url}/functions/scan/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples
               if s.labels.get("budget") == "etherscan"]
    capacity = next((s.value for s in samples if s.name == "ethsource_budget_capacity_calls_per_second"), None)
    if capacity is None:
        return None
    calls = sum(s.value for s in samples if s.name == "ethsource_budget_calls_total")  # a sample per key
    return {"capacity_per_s": round(capacity, 1), "calls": calls, "at": time.monotonic()}

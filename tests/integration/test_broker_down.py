"""With RabbitMQ unreachable, or blocking its publishers (a resource alarm), a submission is refused with 503 and
nothing is written: never accepted and lost, and never held longer than the publisher's bound."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ethsource import queue
from ethsource.serving import load
from tests.scanning import configured, fresh

UNREACHABLE_BROKER = "amqp://guest:guest@127.0.0.1:1/%2F"
BLOCKED_BOUND_S = 1
ALARMING = "{absolute,1}"  # the watermark the memory alarm is raised with, as rabbitmqctl shows it


def rabbitmqctl(*args: str) -> str:
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, check=True, timeout=60).stdout


def memory_alarm_on() -> bool:
    return "memory" in rabbitmqctl("eval", "rabbit_alarm:get_alarms().")


@pytest.fixture
def memory_alarm(monkeypatch) -> Iterator[None]:
    """The broker's memory alarm raised (its watermark set below what it uses): it blocks every connection that
    publishes, as it would when short of memory or disk; the watermark is put back after."""
    monkeypatch.setattr(queue, "BLOCKED_TIMEOUT_S", BLOCKED_BOUND_S)
    watermark = rabbitmqctl("eval", "vm_memory_monitor:get_vm_memory_high_watermark().").strip()
    if watermark == ALARMING:  # left so by a run killed in this test: RabbitMQ's default, not that
        watermark = "0.4"
    rabbitmqctl("set_vm_memory_high_watermark", "absolute", "1")
    try:
        deadline = time.monotonic() + 30
        while not memory_alarm_on():
            assert time.monotonic() < deadline, "the broker did not raise its memory alarm"
            time.sleep(0.2)
        yield
    finally:
        if watermark.startswith("{absolute,"):
            rabbitmqctl("set_vm_memory_high_watermark", "absolute", watermark.strip("{}").split(",")[1])
        else:
            rabbitmqctl("set_vm_memory_high_watermark", watermark)
        while memory_alarm_on():
            time.sleep(0.2)


def test_submission_is_refused_with_503_and_nothing_is_written_when_the_broker_is_down(service_env, db):
    [address] = fresh("solidity_single", 1)
    with configured(service_env, RABBITMQ_URL=UNREACHABLE_BROKER):
        answer = TestClient(load("submit").app).post("/contracts", json={"address": address})
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "unavailable"
    assert answer.headers["retry-after"]
    with db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM contracts WHERE address = %s", (address,))
        assert cursor.fetchone()[0] == 0


def test_health_says_which_dependency_is_down(service_env, db):
    with configured(service_env, RABBITMQ_URL=UNREACHABLE_BROKER):
        answer = TestClient(load("submit").app).get("/healthz")
    assert answer.status_code == 503
    assert "broker" in answer.json()["error"]["message"]


def test_a_submission_while_the_broker_blocks_publishers_is_refused_within_the_bound(service_env, db, memory_alarm):
    [address] = fresh("solidity_single", 1)
    with configured(service_env):
        started = time.monotonic()
        answer = TestClient(load("submit").app).post("/contracts", json={"address": address})
        waited = time.monotonic() - started
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "unavailable"
    assert BLOCKED_BOUND_S <= waited < 2 * BLOCKED_BOUND_S  # one wait: a new connection would be blocked too
    with db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM contracts WHERE address = %s", (address,))
        assert cursor.fetchone()[0] == 0

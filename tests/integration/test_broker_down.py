"""With RabbitMQ unreachable, a submission is refused with 503 and nothing is written: never accepted and lost."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ethsource.serving import load
from tests.scanning import configured, fresh

UNREACHABLE_BROKER = "amqp://guest:guest@127.0.0.1:1/%2F"


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

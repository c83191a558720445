"""The chaos routes: absent unless CHAOS_ENDPOINTS is on; then log lines, errors and delays on demand."""

from __future__ import annotations

import logging
import time

import pytest
from fastapi.testclient import TestClient

from ethsource.config import Settings
from ethsource.http import create_app
from ethsource.metrics import HTTP_EXCEPTIONS


@pytest.fixture
def app_with():
    def build(chaos: bool):
        settings = Settings.from_env({"CHAOS_ENDPOINTS": "true" if chaos else "false"})
        app = create_app("chaos-test", settings=settings, health_checks={}, description="test")
        return TestClient(app, raise_server_exceptions=False)

    return build


def test_without_chaos_enabled_the_routes_do_not_exist(app_with):
    client = app_with(chaos=False)
    for route in ("log", "error", "delay"):
        assert client.post(f"/_chaos/{route}").status_code == 404


def test_log_writes_lines_at_the_asked_level_or_random_ones(app_with, caplog):
    client = app_with(chaos=True)
    with caplog.at_level(logging.DEBUG, logger="ethsource.chaos"):
        assert client.post("/_chaos/log", params={"level": "ERROR", "count": 3}).json() == {"logged": ["error"] * 3}
        randomly = client.post("/_chaos/log", params={"count": 50}).json()["logged"]
    assert [r.levelname for r in caplog.records[:3]] == ["ERROR"] * 3
    assert len(set(randomly)) > 1 and [r.levelname.lower() for r in caplog.records[3:]] == randomly
    answer = client.post("/_chaos/log", params={"level": "loud"})
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request"


def test_error_answers_500_counted_as_unhandled_or_503(app_with):
    client = app_with(chaos=True)
    unhandled_before = HTTP_EXCEPTIONS.labels("chaos-test", "/_chaos/error")._value.get()
    answers = [client.post("/_chaos/error") for _ in range(40)]
    codes = {(a.status_code, a.json()["error"]["code"]) for a in answers}
    assert codes == {(500, "internal_error"), (503, "unavailable")}
    unhandled = sum(a.status_code == 500 for a in answers)
    assert HTTP_EXCEPTIONS.labels("chaos-test", "/_chaos/error")._value.get() == unhandled_before + unhandled


def test_delay_waits_at_most_the_asked_time(app_with):
    client = app_with(chaos=True)
    started = time.perf_counter()
    delayed = client.post("/_chaos/delay", params={"max_ms": 200}).json()["delayed_ms"]
    assert 0 <= delayed <= 200 and time.perf_counter() - started >= delayed / 1000
    assert client.post("/_chaos/delay", params={"max_ms": -1}).status_code == 422

"""The local deployment (`make run`) against the code: the gateway template routes every function, the runner
fills it with each function's port, and sweep runs on the runner's timer (no platform schedules it here)."""

from __future__ import annotations

import re

import pytest

from ethsource.config import Settings
from ethsource.serving import FUNCTIONS
from ethsource_local.runner import GATEWAY_DIR, Layout, Runner

TEMPLATE = (GATEWAY_DIR / "ethsource.conf.template").read_text()


@pytest.fixture
def runner() -> Runner:
    return Runner(Layout(18080), Settings.from_env({}), fake_latency_ms=0)


def test_the_gateway_has_an_upstream_and_the_functions_route_for_every_function():
    upstreams = dict(re.findall(r"^upstream (\w+)\s*\{\s*server \$\{(\w+)\};", TEMPLATE, re.M))
    assert upstreams == {name: f"{name.upper()}_UPSTREAM" for name in FUNCTIONS}
    routed = re.search(r"location ~ \^/functions/\(\?<function>([\w|]+)\)", TEMPLATE).group(1).split("|")
    assert sorted(routed) == sorted(FUNCTIONS)


def test_the_runner_fills_every_upstream_with_the_port_of_its_function(runner):
    site = runner.gateway_site()
    assert not re.findall(r"\$\{\w+\}", site)
    for name in FUNCTIONS:
        assert re.search(rf"^upstream {name}\s*\{{\s*server 127\.0\.0\.1:{runner.layout.port(name)};", site, re.M)
    ports = [runner.layout.port(name) for name in (*FUNCTIONS, "fake-etherscan")]
    assert ports == list(range(18081, 18081 + len(FUNCTIONS) + 1))


def test_the_runner_starts_sweep_on_a_one_minute_timer_unless_the_environment_sets_one(runner):
    assert runner.function_env("sweep", {})["SWEEP_INTERVAL"] == "60"
    assert runner.function_env("sweep", {"SWEEP_INTERVAL": "5"})["SWEEP_INTERVAL"] == "5"
    assert runner.function_env("sweep", {"SWEEP_INTERVAL": "0"})["SWEEP_INTERVAL"] == "0"  # off, as asked
    assert "SWEEP_INTERVAL" not in runner.function_env("scan", {})
    assert Settings.from_env(runner.function_env("sweep", {})).sweep_interval_s == 60

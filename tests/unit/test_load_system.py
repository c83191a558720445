"""What the load test reads of the system under test: the scanners' budget from their metrics."""

import importlib
from types import SimpleNamespace

import pytest

from ethsource.serving import PROJECT_ROOT

METRICS = """\
# TYPE ethsource_budget_calls_total counter
ethsource_budget_calls_total{budget="etherscan",key="3244d4a478bb7c96"} 284.0
ethsource_budget_calls_total{budget="etherscan",key="8e4cc9f72a9dbadd"} 281.0
ethsource_budget_calls_total{budget="sourcify",key="c983c54473bcb9e6"} 144.0
# TYPE ethsource_budget_capacity_calls_per_second gauge
ethsource_budget_capacity_calls_per_second{budget="etherscan"} 57.0
ethsource_budget_capacity_calls_per_second{budget="sourcify"} 1.9
"""


@pytest.fixture
def system(monkeypatch):
    monkeypatch.syspath_prepend(str(PROJECT_ROOT))  # the load scripts run from the checkout; they are not installed
    return importlib.import_module("load.system")


def test_the_scanners_budget_counts_the_calls_of_every_etherscan_key(monkeypatch, system):
    monkeypatch.setattr(system.httpx, "get", lambda url, timeout: SimpleNamespace(text=METRICS))
    budget = system.scanner_budget("http://127.0.0.1:8080")
    assert (budget["calls"], budget["capacity_per_s"]) == (565.0, 57.0)

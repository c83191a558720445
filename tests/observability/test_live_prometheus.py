"""The native setup of `make observe` — the real Prometheus, Alertmanager and node-exporter — watching the
running system through a short flow: every dashboard query returns data, every alert expression is valid."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from ethsource.serving import FUNCTIONS
from ethsource_local.fake_etherscan import address_with_shape
from ethsource_local.runner import Layout
from tests.conftest import wait_until
from tests.observability.configs import (
    alert_rules,
    concrete,
    free_ports,
    panel_queries,
    selector_text,
    vector_selectors,
)

SCRAPE_INTERVAL = 1
FLOW_SHAPES = ("solidity_single", "vyper_standard_json", "proxy", "unverified", "invalid_address")
# Series read by alerts that a short run against the test system cannot produce, and why.
NO_DATA_IN_A_SHORT_RUN = {
    'ethsource_http_requests_total{status=~"5.."}': "a healthy system answers the flow without a server error",
    "ethsource_http_unhandled_exceptions_total": "born with the first unhandled error; the flow causes none",
    'ethsource_etherscan_calls_total{result="rate_limited"}': "the test system's fake Etherscan has no rate limit",
    'ethsource_etherscan_calls_total{result="auth_error"}': "without configured keys the fake accepts any key",
    'ethsource_etherscan_calls_total{result="unavailable"}': "the test system's fake Etherscan injects no faults",
    'ethsource_provider_calls_total{provider!="etherscan",result=~"unavailable|error"}':
        "the test system's fake Sourcify and Blockscout inject no faults and refuse nothing",
    'ethsource_provider_calls_total{provider!="etherscan",result="rate_limited"}':
        "the test system's fake Sourcify and Blockscout have no rate limit",
    "mysql_up": "mysqld-exporter runs in docker-compose only, not in `make observe`",
    'up{job="mysqld"}': "no mysqld-exporter to scrape here (see mysql_up)",
    'up{job="rabbitmq"}': "the shared test broker's rabbitmq_prometheus plugin is left as it is: off",
}


def run_flow(system) -> None:
    """Contracts of each outcome, and answers of each class: 2xx, 404, 409, 422."""
    addresses = [address_with_shape(shape, 31) for shape in FLOW_SHAPES]
    for address in addresses:  # refresh: a scan even if another test of the session submitted it already
        assert system.http.post("/contracts", json={"address": address, "refresh": True}).status_code in (200, 202)
    for address in addresses:
        assert system.wait_terminal(address)["status"] in ("SUCCESS", "ERROR")
        assert system.http.get(f"/contracts/{address}/source").status_code in (200, 409)
    assert system.http.post("/contracts", json={"address": "0x1234"}).status_code == 422
    unknown = address_with_shape("solidity_single", 999)
    assert system.http.get(f"/contracts/{unknown}").status_code == 404
    assert system.http.get(f"/contracts/{unknown}/source").status_code == 404


def query(api: httpx.Client, promql: str) -> list:
    answer = api.get("/query", params={"query": promql}).json()
    assert answer["status"] == "success", (promql, answer)
    return answer["data"]["result"]


@pytest.fixture(scope="module")
def prometheus(system, observe, tmp_path_factory):
    """`make observe`'s three services for the system's ports, scraping every second, after a short flow."""
    work = tmp_path_factory.mktemp("observe")
    prometheus_port, alertmanager_port, node_exporter_port = free_ports(3)
    addresses = observe.native_addresses(Layout(urlsplit(system.base_url).port), prometheus=prometheus_port,
                                         alertmanager=alertmanager_port, node_exporter=node_exporter_port)
    config = observe.prometheus_config(addresses, observe.runner_address(system.layout))
    # A short run needs fast scrapes.
    config["global"] |= {"scrape_interval": f"{SCRAPE_INTERVAL}s", "evaluation_interval": f"{SCRAPE_INTERVAL}s"}
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    (work / "alertmanager.yml").write_text(observe.alertmanager_config({}))
    services = [observe.node_exporter(node_exporter_port),
                observe.alertmanager(work / "alertmanager.yml", work / "alertmanager-data", alertmanager_port),
                observe.prometheus(work / "prometheus.yml", work / "prometheus-data", prometheus_port)]

    with observe.running(services, work / "logs"), \
            httpx.Client(base_url=f"http://127.0.0.1:{prometheus_port}/api/v1", timeout=10) as api:
        targets = sum(len(group["targets"]) for job in config["scrape_configs"] for group in job["static_configs"])
        # Prometheus hands new targets to its scrapers after a few seconds: the flow starts once all are scraped.
        wait_until(lambda: query(api, f"count(up) == {targets}"), 30, "Prometheus scrapes every target")
        run_flow(system)
        flow_done = time.time()
        # Every target scraped twice after the flow: a series the flow created has the two samples rate() needs.
        wait_until(lambda: query(api, f"min(timestamp(up)) > {flow_done + SCRAPE_INTERVAL}"), 30,
                   "Prometheus scrapes every target after the flow")
        yield api


def test_prometheus_scrapes_every_function_node_exporter_alertmanager_and_itself(prometheus):
    up = {(series["metric"]["job"], series["metric"]["instance"]): series["value"][1]
          for series in query(prometheus, "up")}
    assert {instance: value for (job, instance), value in up.items() if job == "ethsource"} == dict.fromkeys(
        FUNCTIONS, "1")
    assert {job for (job, _), value in up.items() if value == "1"} == {"ethsource", "node", "alertmanager",
                                                                     "prometheus", "ethsource-runner"}
    restarts = {series["metric"]["process"] for series in query(prometheus, "ethsource_runner_restarts_total")}
    assert restarts == {*FUNCTIONS, "gateway", "fake-etherscan"}


def test_every_dashboard_query_is_valid_and_returns_data(prometheus):
    queries = [q for q in panel_queries() if q.datasource == "prometheus"]
    assert len(queries) > 40
    empty = [str(q) for q in queries if not query(prometheus, concrete(q.expr))]
    assert empty == []


def test_every_alert_expression_is_valid_and_reads_series_that_exist(prometheus):
    missing = set()
    for rule in alert_rules():
        query(prometheus, rule.expr)  # valid: Prometheus evaluates it
        for selector in map(selector_text, vector_selectors(rule.expr)):
            if selector not in NO_DATA_IN_A_SHORT_RUN and not query(prometheus, selector):
                missing.add(f"{rule.name}: {selector}")
    assert missing == set()


def test_every_series_said_to_be_missing_in_a_short_run_is_read_by_an_alert():
    read = {selector_text(s) for rule in alert_rules() for s in vector_selectors(rule.expr)}
    assert NO_DATA_IN_A_SHORT_RUN.keys() <= read


def test_prometheus_loads_and_evaluates_every_alert_rule_and_knows_its_alertmanager(prometheus):
    groups = prometheus.get("/rules", params={"type": "alert"}).json()["data"]["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert rules.keys() == {rule.name for rule in alert_rules()}
    assert {name: rule["health"] for name, rule in rules.items() if rule["health"] != "ok"} == {}
    managers = prometheus.get("/alertmanagers").json()["data"]["activeAlertmanagers"]
    assert len(managers) == 1

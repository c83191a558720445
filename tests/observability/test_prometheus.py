"""The Prometheus config, the alert rules and their unit tests, checked by Debian's promtool."""

from __future__ import annotations

import subprocess

import yaml

from ethsource.serving import FUNCTIONS
from ethsource_local.runner import Layout
from tests.observability.configs import (
    EXPORTER_METRIC,
    OBSERVABILITY,
    RULE_FILES,
    alert_rules,
    ethsource_metric_names,
    load_yaml,
    vector_selectors,
)

PROMETHEUS = OBSERVABILITY / "prometheus"
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))


def promtool(binary, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary("promtool"), *args], cwd=PROMETHEUS, capture_output=True, text=True)


def test_prometheus_config_and_its_rule_files_pass_promtool_check_config(binary):
    checked = promtool(binary, "check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(RULE_FILES)} rule files found" in checked.stdout + checked.stderr


def test_alert_rules_pass_promtool_check_rules(binary):
    checked = promtool(binary, "check", "rules", *map(str, RULE_FILES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alert_unit_tests_pass_promtool_test_rules(binary):
    tested = promtool(binary, "test", "rules", *map(str, RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test_in_which_it_fires():
    fired = {case["alertname"] for path in RULE_TESTS for test in load_yaml(path)["tests"]
             for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert {rule.name for rule in alert_rules()} - fired == set()


def test_every_alert_has_a_severity_a_summary_and_a_description():
    for rule in alert_rules():
        assert rule.labels.get("severity") in ("critical", "warning"), rule.name
        assert rule.annotations.get("summary") and rule.annotations.get("description"), rule.name


def test_alert_rules_read_only_metrics_that_exist():
    exported = ethsource_metric_names()
    for rule in alert_rules():
        for selector in vector_selectors(rule.expr):
            assert selector.name in exported or EXPORTER_METRIC.match(selector.name), (rule.name, selector.name)


def test_native_config_scrapes_the_functions_of_make_run_and_passes_promtool(observe, binary, tmp_path):
    addresses = observe.native_addresses(Layout(8080), prometheus=9090, alertmanager=9093, node_exporter=9100)
    config = observe.prometheus_config(addresses, observe.runner_address(Layout(8080)))

    jobs = {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]}
    assert {group["labels"]["instance"]: group["targets"] for group in jobs["ethsource"]} == {
        name: [f"127.0.0.1:{8081 + index}"] for index, name in enumerate(FUNCTIONS)}
    assert jobs["node"] == [{"targets": ["127.0.0.1:9100"]}]
    assert jobs["ethsource-runner"] == [{"targets": ["127.0.0.1:8087"]}]  # its restarts
    assert "rabbitmq" not in jobs and "mysqld" not in jobs  # nothing of theirs runs natively unless asked
    assert config["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["127.0.0.1:9093"]}]}]

    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    checked = subprocess.run([binary("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(RULE_FILES)} rule files found" in checked.stdout + checked.stderr

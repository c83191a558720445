"""Grafana, Loki, Tempo, Alloy and docker-compose configs, checked as data (their servers do not run here):
each parses, and what one names — a data source, a label, a port, a mounted file — exists in the other."""

from __future__ import annotations

import json
import logging
import re
import subprocess
from urllib.parse import urlsplit

import pytest
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from ethsource.serving import FUNCTIONS
from tests.observability.configs import (
    DASHBOARDS,
    EXPORTER_METRIC,
    OBSERVABILITY,
    PROJECT_ROOT,
    concrete,
    ethsource_metric_names,
    load_yaml,
    panel_queries,
    vector_selectors,
)

COMPOSE_FILE = PROJECT_ROOT / "local" / "docker-compose.yaml"
ALLOY_CONFIG = (OBSERVABILITY / "alloy" / "config.alloy").read_text()


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def datasources() -> dict[str, dict]:
    provisioned = load_yaml(OBSERVABILITY / "grafana" / "provisioning" / "datasources" / "datasources.yml")
    return {source["uid"]: source for source in provisioned["datasources"]}


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"//{url}")
    return parts.hostname, parts.port


def compose_mounts(compose: dict, service: str) -> dict[str, str]:
    """A service's bind mounts: container path → path in the repository."""
    mounts = {}
    for volume in compose["services"][service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("../"):
            mounts[target] = str((COMPOSE_FILE.parent / source).resolve())
    return mounts


def test_compose_file_passes_docker_compose_config_with_env_sample(binary):
    checked = subprocess.run([binary("docker-compose"), "--env-file", "local/.env.sample", "-f", str(COMPOSE_FILE),
                              "config", "-q"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_every_file_compose_mounts_from_the_repository_exists(compose):
    for service in compose["services"]:
        for target, source in compose_mounts(compose, service).items():
            assert (PROJECT_ROOT / source).exists(), f"{service}: {source} (mounted at {target})"


def test_prometheus_scrapes_services_that_compose_runs(compose):
    prometheus = load_yaml(OBSERVABILITY / "prometheus" / "prometheus.yml")
    for job in prometheus["scrape_configs"]:
        for group in job["static_configs"]:
            for target in group["targets"]:
                host, _ = host_port(target)
                assert host == "localhost" or host in compose["services"], (job["job_name"], target)


def test_grafana_mounts_its_provisioning_and_the_dashboards_where_the_provider_reads_them(compose):
    mounts = compose_mounts(compose, "grafana")
    provider = load_yaml(OBSERVABILITY / "grafana" / "provisioning" / "dashboards" / "dashboards.yml")
    assert mounts["/etc/grafana/provisioning"] == str(OBSERVABILITY / "grafana" / "provisioning")
    assert mounts[provider["providers"][0]["options"]["path"]] == str(OBSERVABILITY / "grafana" / "dashboards")


def test_datasources_point_at_the_compose_services_and_ports(datasources, compose):
    loki_port = load_yaml(OBSERVABILITY / "loki" / "loki.yml")["server"]["http_listen_port"]
    tempo_port = load_yaml(OBSERVABILITY / "tempo" / "tempo.yml")["server"]["http_listen_port"]
    assert {uid: host_port(source["url"]) for uid, source in datasources.items()} == {
        "prometheus": ("prometheus", 9090), "loki": ("loki", loki_port), "tempo": ("tempo", tempo_port)}
    assert {"prometheus", "loki", "tempo"} <= compose["services"].keys()


def test_a_trace_id_in_a_function_log_line_links_to_tempo(datasources):
    """The derived field must match the JSON line Powertools writes for a record carrying a trace id."""
    record = logging.LogRecord("ethsource", logging.INFO, __file__, 1, "contract submitted", None, None)
    record.trace_id = "0af7651916cd43dd8448eb211c80319c"
    line = LambdaPowertoolsFormatter(service="submit").format(record)

    [derived] = datasources["loki"]["jsonData"]["derivedFields"]
    assert datasources[derived["datasourceUid"]]["type"] == "tempo"
    assert re.search(derived["matcherRegex"], line).group(1) == "0af7651916cd43dd8448eb211c80319c"


def test_a_trace_links_back_to_its_logs_by_the_trace_id_alloy_keeps(datasources):
    traces_to_logs = datasources["tempo"]["jsonData"]["tracesToLogsV2"]
    assert datasources[traces_to_logs["datasourceUid"]]["type"] == "loki"
    assert "trace_id=" in traces_to_logs["query"] and "__trace.traceId" in traces_to_logs["query"]
    assert re.search(r"stage\.structured_metadata\s*\{\s*values\s*=\s*\{[^}]*\btrace_id\b", ALLOY_CONFIG)


def test_dashboards_parse_and_have_unique_uids_and_panel_ids():
    dashboards = [json.loads(path.read_text()) for path in DASHBOARDS]
    assert len(dashboards) >= 4
    assert len({d["uid"] for d in dashboards}) == len(dashboards)
    for dashboard in dashboards:
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), dashboard["uid"]


def test_every_dashboard_query_uses_a_provisioned_datasource(datasources):
    for query in panel_queries():
        assert query.datasource in datasources, str(query)


def test_every_dashboard_promql_query_parses_and_names_only_metrics_that_exist():
    exported = ethsource_metric_names()
    for query in panel_queries():
        if query.datasource != "prometheus":
            continue
        for selector in vector_selectors(concrete(query.expr)):
            assert selector.name in exported or EXPORTER_METRIC.match(selector.name), f"{selector.name} in {query}"


def test_every_dashboard_logql_query_selects_labels_that_alloy_sets():
    alloy_labels = {"container", *re.search(r"stage\.labels\s*\{\s*values\s*=\s*\{([^}]*)\}", ALLOY_CONFIG)
                    .group(1).replace("=", " ").replace('"', " ").replace(",", " ").split()}
    assert alloy_labels == {"container", "level", "function"}
    for query in panel_queries():
        if query.datasource == "loki":
            for stream_selector in re.findall(r"\{([^}]*)\}", concrete(query.expr)):
                labels = set(re.findall(r"(\w+)\s*=~?", stream_selector))
                assert labels and labels <= alloy_labels, str(query)


def test_the_function_filter_offers_exactly_the_functions():
    for path in DASHBOARDS:
        for variable in json.loads(path.read_text())["templating"]["list"]:
            if variable["name"] == "function":
                assert variable["query"].split(",") == list(FUNCTIONS), path.name


def test_loki_and_tempo_configs_parse_and_listen_where_alloy_sends():
    loki = load_yaml(OBSERVABILITY / "loki" / "loki.yml")
    tempo = load_yaml(OBSERVABILITY / "tempo" / "tempo.yml")
    [loki_url] = re.findall(r'url\s*=\s*"([^"]+)"', ALLOY_CONFIG)
    assert host_port(loki_url) == ("loki", loki["server"]["http_listen_port"])
    assert urlsplit(loki_url).path == "/loki/api/v1/push"
    tempo_grpc = tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    exporter = re.search(r'otelcol\.exporter\.otlp\s+"\w+"\s*\{.*?endpoint\s*=\s*"([^"]+)"', ALLOY_CONFIG, re.S)
    assert host_port(exporter.group(1)) == ("tempo", host_port(tempo_grpc)[1])


def test_functions_send_traces_to_alloys_otlp_http_receiver(compose):
    endpoint = compose["x-function"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    receiver = re.search(r'otelcol\.receiver\.otlp\s+"\w+"\s*\{.*?http\s*\{\s*endpoint\s*=\s*"([^"]+)"',
                         ALLOY_CONFIG, re.S)
    default = re.fullmatch(r"\$\{OTEL_EXPORTER_OTLP_ENDPOINT:-(.+)\}", endpoint).group(1)
    assert host_port(default) == ("alloy", host_port(receiver.group(1))[1])


def test_alloy_config_is_balanced_and_every_component_it_references_is_defined():
    code = re.sub(r'"(?:[^"\\]|\\.)*"|`[^`]*`', '""', ALLOY_CONFIG)  # strings out
    code = re.sub(r"//[^\n]*", "", code)  # comments out
    assert code.count("{") == code.count("}") and code.count("[") == code.count("]")
    defined = {f"{kind}.{label}" for kind, label in re.findall(r'^([a-z_]+(?:\.[a-z_]+)+)\s+"(\w+)"\s*\{',
                                                               ALLOY_CONFIG, re.M)}
    assert {"loki.source.docker.containers", "loki.write.loki", "otelcol.receiver.otlp.functions",
            "otelcol.exporter.otlp.tempo"} <= defined
    references = re.findall(r"\b((?:discovery|loki|otelcol)(?:\.[a-z_]+)+)\.(?:receiver|input|targets|rules)\b", code)
    assert references
    assert set(references) <= defined

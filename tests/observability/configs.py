"""The observability configs read as data, and PromQL taken apart: what the tests of this folder share."""

from __future__ import annotations

import json
import re
import socket
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path

import promql_parser
import yaml
from prometheus_client import REGISTRY

from ethsource.metrics import StateCollector

PROJECT_ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = PROJECT_ROOT / "observability"
DASHBOARDS = sorted((OBSERVABILITY / "grafana" / "dashboards").glob("*.json"))
RULE_FILES = sorted((OBSERVABILITY / "prometheus" / "rules").glob("*.yml"))
# What a dashboard's time range and variables stand for when its queries run outside Grafana.
GRAFANA_MACROS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1m"}
# Metrics that come from exporters, not from ethsource's own code.
EXPORTER_METRIC = re.compile(r"^(up|node_\w+|mysql_\w+|rabbitmq_\w+)$")


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    datasource: str  # the uid
    expr: str  # as written, Grafana macros and variables included

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel}: {self.expr}"


@dataclass(frozen=True)
class AlertRule:
    name: str
    expr: str
    labels: dict
    annotations: dict


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text())


def _panels(panels: list[dict]):
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # rows may hold collapsed panels


def panel_queries() -> list[PanelQuery]:
    queries = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in _panels(dashboard["panels"]):
            for target in panel.get("targets", []):
                uid = (target.get("datasource") or panel["datasource"])["uid"]
                queries.append(PanelQuery(path.name, panel["title"], uid, target["expr"]))
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":  # label_values(metric, label): the metric must have data
                definition = variable["definition"]
                metric = re.fullmatch(r"label_values\((.+),\s*\w+\)", definition).group(1)
                queries.append(PanelQuery(path.name, f"variable {variable['name']}", variable["datasource"]["uid"],
                                          metric))
    return queries


def alert_rules() -> list[AlertRule]:
    return [AlertRule(rule["alert"], rule["expr"], rule.get("labels", {}), rule.get("annotations", {}))
            for path in RULE_FILES for group in load_yaml(path)["groups"] for rule in group["rules"] if "alert" in rule]


def concrete(expr: str) -> str:
    """A dashboard query as Grafana sends it: macros replaced, every variable at "All" (the regex `.+`)."""
    for macro, value in GRAFANA_MACROS.items():
        expr = expr.replace(macro, value)
    return re.sub(r"\$\{?\w+\}?", ".+", expr)


def vector_selectors(expr: str) -> list[promql_parser.VectorSelector]:
    found = []
    promql_parser.walk(promql_parser.parse(expr),
                       lambda node: found.append(node) if isinstance(node, promql_parser.VectorSelector) else None)
    return found


def selector_text(selector: promql_parser.VectorSelector) -> str:
    """The selector without its offset: which series the expression reads now."""
    matchers = str(selector.matchers)
    return selector.name + ("" if matchers == "{}" else matchers)


def ethsource_metric_names() -> set[str]:
    """Every series name the library exports (the scan function's StateCollector included)."""
    state = StateCollector("q", queue_stats=lambda: (0, 0), contract_stats=lambda: ({"SUCCESS": 0}, 0))
    families = [*REGISTRY.collect(), *state.collect()]
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    return {family.name + suffix for family in families if family.name.startswith("ethsource_")
            for suffix in suffixes.get(family.type, ("",))}


def free_ports(count: int) -> list[int]:
    """Ports free on this machine, all different (each is held until all are chosen)."""
    with ExitStack() as stack:
        probes = [stack.enter_context(closing(socket.socket())) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


def env_sample() -> dict[str, str]:
    lines = (PROJECT_ROOT / "local" / ".env.sample").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))

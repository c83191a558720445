"""On Lambda nothing scrapes /metrics and the container freezes when the handler returns: each shipped event's
invocation writes its metrics as EMF lines and has sent its spans by then."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pika
import pytest

from ethsource.config import Settings
from ethsource.queue import Topology
from ethsource_local.fake_etherscan import FakeConfig, explorer_urls, running
from tests.conftest import EVENTS

# The invocation in a process of its own that ends without its exit handlers (os._exit): a span reaches the
# receiver only if the invocation itself sent it, as a frozen Lambda container would never run them.
INVOKE = """
import json, os, sys
from pathlib import Path
from ethsource.invoke import invoke
answer = invoke(sys.argv[1], Path(sys.argv[2]))
print(json.dumps(answer, default=str), flush=True)
sys.stderr.flush()
os._exit(0)
"""
NAMESPACE = "ethsource-test"


@pytest.fixture(scope="module")
def lambda_env(service_env, db, otlp_receiver):
    with running(FakeConfig()) as fake_url:
        env = {**os.environ, **service_env, **explorer_urls(fake_url), "ETHERSCAN_API_KEYS": "",
               "SCAN_QUEUE": f"{service_env['SCAN_QUEUE']}.lambda", "SWEEP_AFTER": str(30 * 86400),
               "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "600000",
               "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE}
        topology = Topology.from_settings(Settings.from_env(env))
        connection = pika.BlockingConnection(pika.URLParameters(service_env["RABBITMQ_URL"]))
        topology.declare(connection.channel())  # as a deployment has it (the submit may queue nothing)
        yield env
    for queue in topology.all_queues:
        connection.channel().queue_delete(queue)
    connection.close()


def invoked(env: dict, function: str, event: str) -> tuple[dict, list[dict]]:
    """The answer, and the EMF documents the invocation wrote."""
    done = subprocess.run([sys.executable, "-c", INVOKE, function, str(EVENTS / event)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    documents = [json.loads(line) for line in done.stderr.splitlines() if line.startswith('{"_aws"')]
    return json.loads(done.stdout), documents


def metric(documents: list[dict], name: str, **dimensions) -> list[float]:
    """The values of `name` in the documents whose dimensions include `dimensions`."""
    values = []
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        if name in {m["Name"] for m in directive["Metrics"]} and all(
                document.get(k) == v for k, v in dimensions.items()):
            value = document[name]
            values += value if isinstance(value, list) else [value]
    return values


@pytest.mark.timeout(180)
def test_each_invocation_writes_its_metrics_as_emf_and_has_sent_its_spans_when_it_returns(lambda_env,
                                                                                          otlp_receiver):
    submitted, documents = invoked(lambda_env, "submit", "submit-apigw-v2.json")
    status = str(submitted["statusCode"])
    assert metric(documents, "Requests", service="submit", route="/contracts", status=status) == [1]
    assert metric(documents, "ServerErrors", service="submit", route="/contracts", status=status) == [0]
    [latency] = metric(documents, "Latency", service="submit", route="/contracts")
    assert 0 < latency < 10_000
    assert any(document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"], ["service", "route", "status"]]
               for document in documents)

    scanned, documents = invoked(lambda_env, "scan", "scan-amazonmq.json")
    assert scanned["settled"] == 1
    [outcome] = scanned["outcomes"]
    assert metric(documents, "Scans", service="scan", outcome=outcome) == [1]
    if outcome in ("success", "error"):
        assert sum(metric(documents, "EtherscanCalls", service="scan")) >= 1
        assert len(metric(documents, "ScanDuration", service="scan")) == 1

    answered, documents = invoked(lambda_env, "status", "status-apigw-v2.json")
    assert metric(documents, "Requests", service="status", status=str(answered["statusCode"])) == [1]

    invoked(lambda_env, "sweep", "sweep-schedule.json")  # nothing that old to sweep: no metric, its round traced

    services = {span.service for span in otlp_receiver.spans}
    assert {"ethsource-submit", "ethsource-scan", "ethsource-status", "ethsource-sweep"} <= services
    assert {"POST /contracts", "GET /contracts/{address}"} <= {span.name for span in otlp_receiver.spans}


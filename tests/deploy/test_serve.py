"""`ethsource serve` with WEB_CONCURRENCY=2, as the image and `make run` run it: two processes on one port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ethsource_local.functions import PROJECT_ROOT
from tests.conftest import free_port_block


def health_requests_counted(url: str) -> float:
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
    return sum(sample.value for family in families for sample in family.samples
               if sample.name == "ethsource_http_requests_total" and sample.labels["route"] == "/_/health")


def test_metrics_count_the_requests_of_every_process(service_env):
    port = free_port_block(1)
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-m", "ethsource_local.cli", "serve", "status", "--port", str(port)],
                               cwd=PROJECT_ROOT, env={**os.environ, **service_env, "WEB_CONCURRENCY": "2"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/_/health")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        for _ in range(39):  # a connection each, so both processes take some
            assert httpx.get(f"{url}/_/health").status_code == 200
        # Whichever process answers the scrape, it reports the requests of both.
        assert [health_requests_counted(url) for _ in range(8)] == [40.0] * 8
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0

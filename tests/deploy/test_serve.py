"""`ethsource serve`, as the image and `make run` run a function: a real uvicorn on a port."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ethsource_local.functions import PROJECT_ROOT
from tests.conftest import free_port_block


@contextmanager
def serving(function: str, env: dict[str, str]) -> Iterator[int]:
    """The function served on a free port with `env` over this process's environment; yields the port."""
    port = free_port_block(1)
    process = subprocess.Popen([sys.executable, "-m", "ethsource_local.cli", "serve", function, "--port", str(port)],
                               cwd=PROJECT_ROOT, env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/_/health")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down, then raises the signal again for its own exit: -SIGTERM from a single process
        assert process.wait(60) in (0, -signal.SIGTERM)


def health_requests_counted(url: str) -> float:
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
    return sum(sample.value for family in families for sample in family.samples
               if sample.name == "ethsource_http_requests_total" and sample.labels["route"] == "/_/health")


def test_with_two_processes_metrics_count_the_requests_of_both(service_env):
    with serving("status", {**service_env, "WEB_CONCURRENCY": "2"}) as port:
        url = f"http://127.0.0.1:{port}"
        for _ in range(39):  # a connection each, so both processes take some
            assert httpx.get(f"{url}/_/health").status_code == 200
        # Whichever process answers the scrape, it reports the requests of both.
        assert [health_requests_counted(url) for _ in range(8)] == [40.0] * 8


def test_an_unexpected_error_is_a_500_that_keeps_the_connection(service_env):
    # The gateway reuses its connections to a function: a connection closed after an error would reset the
    # next request sent on it (a 503 for an unrelated caller).
    with serving("submit", {**service_env, "CHAOS_ENDPOINTS": "true"}) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        answers = []
        for _ in range(12):
            connection.request("POST", "/_chaos/error")
            answer = connection.getresponse()
            answer.read()
            answers.append(answer.status)
        connection.close()
    assert set(answers) == {500, 503}

"""The probes every function serves: /_/health (OpenFaaS, Kubernetes liveness) says the process answers;
/_/ready (readiness) and /healthz answer 200 only while the function's own dependencies answer."""

from __future__ import annotations

import pytest

from ethsource.invoke import request
from ethsource.serving import FUNCTIONS


@pytest.mark.parametrize("function", FUNCTIONS)
def test_ready_follows_the_database_while_health_only_says_the_process_answers(functions, database_down, function):
    app = functions.modules[function].app

    def status(path: str) -> int:
        return request(app, "GET", path).status_code

    assert (status("/_/health"), status("/_/ready"), status("/healthz")) == (200, 200, 200)
    with database_down():
        assert (status("/_/health"), status("/_/ready"), status("/healthz")) == (200, 503, 503)
    assert status("/_/ready") == 200

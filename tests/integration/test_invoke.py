"""`ethsource invoke` runs each function's Lambda handler on the shipped events, against the real services."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import zipfile

import pytest

from ethsource_local.fake_etherscan import FakeConfig, explorer_urls, running
from tests.conftest import EVENTS, PROJECT_ROOT

ADDRESS = "0xdAC17F958D2ee523a2206206994597C13D831ec7"  # the address in the shipped events


@pytest.fixture(scope="module")
def invoke(service_env, db):
    with running(FakeConfig()) as fake_url:
        env = {**os.environ, **service_env, **explorer_urls(fake_url)}

        def run(function: str, event: str) -> dict:
            done = subprocess.run([sys.executable, "-m", "ethsource.cli", "invoke", function,
                                   "--event", str(EVENTS / event)], env=env, capture_output=True, text=True,
                                  cwd=PROJECT_ROOT, timeout=60)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        yield run


def test_every_shipped_event_runs_through_its_function_in_flow_order(invoke):
    submitted = invoke("submit", "submit-apigw-v2.json")
    assert submitted["statusCode"] in (200, 202)
    assert json.loads(submitted["body"])["address"] == ADDRESS

    scanned = invoke("scan", "scan-amazonmq.json")
    assert scanned["settled"] == 1

    status = invoke("status", "status-apigw-v2.json")
    assert status["statusCode"] == 200
    assert json.loads(status["body"])["status"] in ("SUCCESS", "ERROR")

    download = invoke("download", "download-apigw-v2.json")
    if json.loads(status["body"])["status"] == "SUCCESS":
        assert download["statusCode"] == 200 and download["isBase64Encoded"] is True
        names = zipfile.ZipFile(io.BytesIO(base64.b64decode(download["body"]))).namelist()
        assert "metadata.json" in names and "abi.json" in names
    else:
        assert download["statusCode"] == 409


def test_every_function_has_a_shipped_event():
    shipped = {path.name.split("-")[0] for path in EVENTS.glob("*.json")}
    assert shipped >= {"submit", "status", "download", "scan"}

"""The load script of `load/` (`python -m load.loadtest`) in a short run against the running system."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ethsource.serving import PROJECT_ROOT


def test_a_short_run_reports_every_submission_and_agrees_with_the_database(system, service_env, tmp_path):
    # Few contracts: the system scans at the default budget of 5 Etherscan calls/s.
    out = tmp_path / "report"
    finished = subprocess.run(
        [sys.executable, "-m", "load.loadtest", "normal", "--rate", "10", "--duration", "2", "--workers", "2",
         "--base-url", system.base_url, "--drain-timeout", "60", "--output-dir", str(out)],
        cwd=PROJECT_ROOT, env={**os.environ, **service_env}, capture_output=True, text=True, timeout=300,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    submit, status = report["endpoints"]["submit"], report["endpoints"]["status"]
    assert submit["requests"] == 20 and submit["status_codes"] == {"202": 20} and submit["error_count"] == 0
    assert status["requests"] > 0 and set(status["status_codes"]) == {"200"}
    assert 0 < submit["latency_ms"]["p50"] <= submit["latency_ms"]["p99"] <= submit["latency_ms"]["max"]
    contracts = report["contracts"]
    assert contracts["accepted"] == contracts["settled"] == 20 and contracts["not_settled"] == 0
    assert contracts["drain_s"] >= 0 and contracts["submit_to_settled_s"]["p50"] > 0
    # The final statuses the polls saw are the database's.
    assert report["database"]["agrees"] and report["database"]["missing"] == 0
    assert sum(report["database"]["database"].values()) == 20
    assert {"submit", "status", "scan", "mariadb", "rabbitmq"} <= set(report["processes"]["rss_mib_end"])
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "goals:" in finished.stdout

"""Every event shipped in local/events/ runs through `ethsource invoke`'s entry point for its trigger kind."""

from __future__ import annotations

import base64
import io
import json
import zipfile

from ethsource.invoke import invoke
from ethsource.serving import FUNCTIONS, HTTP_FUNCTIONS
from tests.conftest import EVENTS as SHIPPED

KINDS = ("apigw-v2", "apigw-v1", "alb")


def test_each_http_function_ships_an_event_of_each_gateway_kind_and_scan_and_sweep_one_of_each_trigger():
    shipped = {path.stem for path in SHIPPED.glob("*.json")}
    expected = {f"{function}-{kind}" for function in HTTP_FUNCTIONS for kind in KINDS}
    assert shipped == expected | {"scan-amazonmq", "scan-amazonmq-batch", "scan-cloudevent", "sweep-schedule",
                                  "sweep-ping"}
    assert {name.split("-")[0] for name in shipped} == set(FUNCTIONS)


def test_the_shipped_events_run_in_flow_order_through_their_entry_points(functions):
    # Other test folders may have settled the sample address already in this run's database: 200 or 202.
    for kind in KINDS:
        assert invoke("submit", SHIPPED / f"submit-{kind}.json")["statusCode"] in (200, 202)

    assert invoke("scan", SHIPPED / "scan-amazonmq.json")["settled"] == 1
    # Two contracts, a poison message and a redelivered copy: each message settled, none fails the batch.
    assert invoke("scan", SHIPPED / "scan-amazonmq-batch.json")["settled"] == 4
    pushed = invoke("scan", SHIPPED / "scan-cloudevent.json")
    assert (pushed["statusCode"], pushed["body"]) == (202, "")
    # What the sweep found stuck depends on the other tests of the run; that it answers with the count does not.
    assert isinstance(invoke("sweep", SHIPPED / "sweep-schedule.json")["requeued"], int)
    pinged = invoke("sweep", SHIPPED / "sweep-ping.json")
    assert pinged["statusCode"] == 200 and isinstance(json.loads(pinged["body"])["requeued"], int)

    for kind in KINDS:
        status = invoke("status", SHIPPED / f"status-{kind}.json")
        assert status["statusCode"] == 200
        settled = json.loads(status["body"])["status"]
        assert settled in ("SUCCESS", "ERROR")
        download = invoke("download", SHIPPED / f"download-{kind}.json")
        if settled == "ERROR":
            assert download["statusCode"] == 409
            continue
        assert (download["statusCode"], download["isBase64Encoded"]) == (200, True)
        assert "metadata.json" in zipfile.ZipFile(io.BytesIO(base64.b64decode(download["body"]))).namelist()

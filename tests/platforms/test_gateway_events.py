"""The HTTP functions' Lambda handlers (Mangum) on API Gateway HTTP API (v2), REST API (v1) and ALB events."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest

GATEWAYS = ["apigw-v2", "apigw-v1", "alb"]


def json_body(response: dict) -> dict:
    assert response["headers"]["content-type"] == "application/json"
    assert response["isBase64Encoded"] is False
    return json.loads(response["body"])


def scan(functions, load_event, address: str, fresh_address) -> None:
    """Deliver the address's scan message as Amazon MQ would (the batch's other address is unknown: skipped)."""
    assert functions.invoke("scan", load_event("scan-amazonmq-batch.json", address, fresh_address()))["settled"] == 4


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_contract_goes_from_submit_to_zip_download_through_each_gateway(functions, load_event, fresh_address,
                                                                          gateway):
    address = fresh_address()
    submitted = functions.invoke("submit", load_event(f"submit-{gateway}.json", address))
    assert submitted["statusCode"] == 202
    assert submitted["headers"]["location"] == f"/contracts/{address}?chain_id=1"
    assert json_body(submitted) | {"status": "CREATED", "address": address} == json_body(submitted)

    resubmitted = functions.invoke("submit", load_event(f"submit-{gateway}.json", address))
    assert resubmitted["statusCode"] == 200  # known and not ERROR: no new scan

    not_yet = functions.invoke("download", load_event(f"download-{gateway}.json", address))
    assert not_yet["statusCode"] == 409
    assert json_body(not_yet)["error"]["code"] == "not_ready"

    scan(functions, load_event, address, fresh_address)
    status = functions.invoke("status", load_event(f"status-{gateway}.json", address))
    assert status["statusCode"] == 200
    resource = json_body(status)
    assert (resource["address"], resource["status"], resource["attempts"]) == (address, "SUCCESS", 1)

    download = functions.invoke("download", load_event(f"download-{gateway}.json", address))
    assert download["statusCode"] == 200
    assert download["headers"]["content-type"] == "application/zip"
    assert download["headers"]["content-disposition"].startswith("attachment; filename=")
    assert download["headers"]["content-disposition"].endswith(f'-1-{address}.zip"')
    assert download["isBase64Encoded"] is True  # what makes the gateway send binary, not text
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(download["body"])))
    assert {"metadata.json", "abi.json"} <= set(archive.namelist())
    assert archive.testzip() is None


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_errors_keep_their_status_and_json_shape_through_each_gateway(functions, load_event, fresh_address, gateway):
    unknown = fresh_address()
    missing = functions.invoke("status", load_event(f"status-{gateway}.json", unknown))
    assert missing["statusCode"] == 404
    assert json_body(missing)["error"]["code"] == "not_found"

    letter = next(i for i, c in enumerate(unknown) if i > 1 and c.isalpha())
    bad_checksum = unknown[:letter] + unknown[letter].swapcase() + unknown[letter + 1:]
    rejected = functions.invoke("status", load_event(f"status-{gateway}.json", bad_checksum))
    assert rejected["statusCode"] == 422
    assert json_body(rejected)["error"]["code"] == "bad_checksum"

    malformed = functions.invoke("submit", load_event(f"submit-{gateway}.json", "0x1234"))
    assert malformed["statusCode"] == 422
    assert json_body(malformed)["error"]["code"] == "malformed_address"
    assert functions.invoke("status", load_event(f"status-{gateway}.json", "0x1234"))["statusCode"] == 422

"""The whole flow through the gateway, with the real MariaDB, RabbitMQ and the fake Etherscan over HTTP."""

from __future__ import annotations

import io
import json
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pika
import pytest

from ethsource.config import Settings
from ethsource.queue import Topology
from ethsource.serving import FUNCTIONS
from ethsource.sources import safe_path
from ethsource_local.fake_etherscan import address_with_shape, expected_files
from tests.conftest import wait_until

VERIFIED_SHAPES = ["solidity_single", "solidity_multi", "solidity_standard_json", "vyper_single",
                   "vyper_standard_json", "proxy"]


def count_rows(db) -> int:
    with db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM contracts")
        return cursor.fetchone()[0]


@pytest.mark.parametrize("shape", VERIFIED_SHAPES)
def test_submitted_contract_is_scanned_and_its_zip_holds_exactly_the_fake_files(system, shape):
    address = address_with_shape(shape, 1)
    submitted = system.http.post("/contracts", json={"address": address.lower()})
    assert submitted.status_code == 202, submitted.text
    assert submitted.headers["location"] == f"/contracts/{address}?chain_id=1"
    assert submitted.json()["address"] == address
    assert submitted.json()["status"] in ("CREATED", "PROCESS", "SUCCESS")

    resource = system.wait_terminal(address)
    assert resource["status"] == "SUCCESS", resource
    assert resource["attempts"] == 1 and resource["error"] is None
    assert resource["contract_name"] and resource["compiler_version"]
    assert resource["language"] == ("Vyper" if shape.startswith("vyper") else "Solidity")

    download = system.http.get(f"/contracts/{address}/source")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert f"{address}.zip" in download.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    expected = {safe_path(path): content.encode() for path, content in expected_files(1, address).items()}
    sources_in_zip = {name: archive.read(name) for name in archive.namelist()
                      if name not in ("metadata.json", "abi.json") and not name.startswith("implementation/")}
    assert sources_in_zip == expected
    metadata = json.loads(archive.read("metadata.json"))
    assert metadata["compiler_version"] == resource["compiler_version"]
    assert {"optimizer", "evm_version", "license", "constructor_arguments", "proxy", "implementation",
            "library_links"} <= metadata.keys()
    assert isinstance(json.loads(archive.read("abi.json")), list)

    as_json = system.http.get(f"/contracts/{address}/source", params={"format": "json"}).json()
    assert {path: content.encode() for path, content in as_json["files"].items()} == expected
    assert as_json["metadata"] == metadata


def test_unverified_contract_ends_in_error_not_verified_and_download_says_why(system):
    address = address_with_shape("unverified", 1)
    assert system.http.post("/contracts", json={"address": address}).status_code == 202
    resource = system.wait_terminal(address)
    assert resource["status"] == "ERROR"
    assert resource["error"]["code"] == "not_verified"
    download = system.http.get(f"/contracts/{address}/source")
    assert download.status_code == 409
    assert download.json()["error"]["code"] == "scan_failed"
    assert "not_verified" in download.json()["error"]["message"]


@pytest.mark.parametrize("shape, code", [("invalid_address", "invalid_address"),
                                         ("etherscan_error", "etherscan_error")])
def test_etherscan_rejection_is_recorded_with_its_code(system, shape, code):
    address = address_with_shape(shape, 1)
    assert system.http.post("/contracts", json={"address": address}).status_code == 202
    resource = system.wait_terminal(address)
    assert resource["status"] == "ERROR"
    assert resource["error"]["code"] == code
    assert resource["error"]["message"]


def test_resubmitting_known_contract_returns_200_and_queues_nothing(system):
    address = address_with_shape("solidity_single", 2)
    assert system.http.post("/contracts", json={"address": address}).status_code == 202
    first = system.wait_terminal(address)
    calls_before = system.fake_calls()
    again = system.http.post("/contracts", json={"address": address.lower(), "chain_id": 1})
    assert again.status_code == 200
    assert again.json() == first
    # A contract submitted after it is scanned after what the resubmission could have queued: once it is done,
    # the fake has had its one call and no other.
    later = address_with_shape("solidity_single", 3)
    assert system.http.post("/contracts", json={"address": later, "refresh": True}).is_success
    assert system.wait_terminal(later)["status"] == "SUCCESS"
    assert system.fake_calls() == calls_before + 1
    assert system.http.get(f"/contracts/{address}").json() == first


def test_refresh_scans_a_known_contract_again(system):
    address = address_with_shape("solidity_multi", 2)
    system.http.post("/contracts", json={"address": address})
    assert system.wait_terminal(address)["status"] == "SUCCESS"
    refreshed = system.http.post("/contracts", json={"address": address, "refresh": True})
    assert refreshed.status_code == 202
    assert system.wait_terminal(address)["status"] == "SUCCESS"


def test_resubmitting_a_failed_contract_scans_it_again(system):
    address = address_with_shape("unverified", 2)
    system.http.post("/contracts", json={"address": address})
    assert system.wait_terminal(address)["status"] == "ERROR"
    assert system.http.post("/contracts", json={"address": address}).status_code == 202
    assert system.wait_terminal(address)["status"] == "ERROR"


def test_concurrent_submissions_of_one_address_queue_one_scan(system):
    address = address_with_shape("solidity_standard_json", 3)
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda _: system.http.post("/contracts", json={"address": address}).status_code,
                              range(16)))
    assert sorted(codes) == [200] * 15 + [202]
    assert system.wait_terminal(address)["attempts"] == 1


def test_other_chains_are_separate_contracts(system):
    address = address_with_shape("vyper_single", 2)
    assert system.http.post("/contracts", json={"address": address, "chain_id": 8453}).status_code == 202
    assert system.wait_terminal(address, chain_id=8453)["chain_id"] == 8453
    assert system.http.get(f"/contracts/{address}", params={"chain_id": 1}).status_code == 404


BAD_SUBMISSIONS = [
    (b'{"address": "0x1234"}', 422, "malformed_address"),
    (b'{"address": "0xdAC17F958D2ee523a2206206994597C13D831eC7"}', 422, "bad_checksum"),
    (b'{"address": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "chain_id": 999999}', 422, "unsupported_chain"),
    (b'{"address": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "chain_id": "one"}', 422, "invalid_request"),
    (b'{"address": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "color": "red"}', 422, "unknown_field"),
    (b'{"chain_id": 1}', 422, "missing_field"),
    (b"address=0xdAC17F958D2ee523a2206206994597C13D831ec7", 422, "invalid_json"),
    (b'{"address": ', 422, "invalid_json"),
    (b"[]", 422, "invalid_request"),
    (b'{"address": "' + b"a" * 20000 + b'"}', 413, "body_too_large"),
]


@pytest.mark.parametrize("body, status, code", BAD_SUBMISSIONS)
def test_bad_submission_gets_a_clear_4xx_and_changes_nothing(system, db, body, status, code):
    rows, calls = count_rows(db), system.fake_calls()
    answer = system.http.post("/contracts", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]
    assert count_rows(db) == rows and system.fake_calls() == calls  # an accepted one is stored before its answer


@pytest.mark.parametrize("path", ["/contracts/0x1234", "/contracts/0x1234/source",
                                  "/contracts/0xdAC17F958D2ee523a2206206994597C13D831eC7"])
def test_bad_address_in_a_path_is_a_422(system, path):
    answer = system.http.get(path)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] in ("malformed_address", "bad_checksum")


@pytest.mark.parametrize("query", ["chain_id=1.0", "chain_id=%2B1", "chain_id=01", "chain_id=%201", "chain_id=1_0",
                                   "chain_id=1&chain_id=1"])
@pytest.mark.parametrize("route", ["", "/source"])
def test_through_the_gateway_a_query_value_is_taken_only_in_its_one_canonical_form(system, route, query):
    answer = system.http.get(f"/contracts/{address_with_shape('solidity_single', 2)}{route}?{query}")
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request"


def test_through_the_gateway_head_answers_as_get_without_a_body(system):
    address = address_with_shape("solidity_single", 2)  # submitted and scanned by an earlier test, or not: 200/404
    for path in (f"/contracts/{address}", f"/contracts/{address}/source", f"/contracts/{address}?chain_id=1"):
        get, head = system.http.get(path), system.http.head(path)
        assert (head.status_code, head.content) == (get.status_code, b"")
        assert head.headers["content-type"] == get.headers["content-type"]


def test_unknown_contract_is_404_for_status_and_download(system):
    address = address_with_shape("solidity_single", 99)
    for path in (f"/contracts/{address}", f"/contracts/{address}/source"):
        answer = system.http.get(path)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"


def test_concurrent_polls_each_get_their_own_contract(system):
    """Polls arriving together share one query (status batches them): each still gets its own answer."""
    known = [address_with_shape("solidity_single", n) for n in range(200, 206)]
    for address in known:
        assert system.http.post("/contracts", json={"address": address}).status_code == 202
    unknown = [address_with_shape("solidity_single", n) for n in range(300, 306)]
    polls = [*known, *unknown] * 4
    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda address: system.http.get(f"/contracts/{address}"), polls))
    for address, answer in zip(polls, answers, strict=True):
        if address in known:
            assert answer.status_code == 200 and answer.json()["address"] == address
        else:
            assert answer.status_code == 404 and address in answer.json()["error"]["message"]


def test_download_before_success_is_409(system, db):
    address = address_with_shape("solidity_single", 98)
    with db.cursor() as cursor:  # a row that no scan will touch: no message was queued for it
        cursor.execute("INSERT INTO contracts (chain_id, address, status, created_at, updated_at)"
                       " VALUES (1, %s, 'PROCESS', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))", (address,))
    answer = system.http.get(f"/contracts/{address}/source")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "not_ready"


def test_gateway_serves_health_metrics_and_the_openapi_document(system):
    assert system.http.get("/healthz").json()["status"] == "ok"
    for function in FUNCTIONS:
        assert system.http.get(f"/functions/{function}/healthz").status_code == 200
        metrics = system.http.get(f"/functions/{function}/metrics").text
        assert "ethsource_http_requests_total" in metrics
    document = system.http.get("/openapi.json").json()
    assert {"/contracts", "/contracts/{address}", "/contracts/{address}/source"} <= document["paths"].keys()
    unknown = system.http.get("/nowhere")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("body", [b"not json", b'{"chain_id": 1, "address": "0x12"}',
                                  b'{"chain_id": 1, "address": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "x": 1}',
                                  b'{"chain_id": 0, "address": "0xdAC17F958D2ee523a2206206994597C13D831ec7"}'])
def test_a_poison_message_is_dead_lettered_and_the_scanner_goes_on(system, service_env, body):
    topology = Topology.from_settings(Settings.from_env(service_env))
    connection = pika.BlockingConnection(pika.URLParameters(service_env["RABBITMQ_URL"]))
    channel = connection.channel()
    dead_before = channel.queue_declare(topology.dead_letter_queue, passive=True).method.message_count
    channel.basic_publish("", topology.queue, body, pika.BasicProperties(delivery_mode=2))
    wait_until(lambda: channel.queue_declare(topology.dead_letter_queue, passive=True).method.message_count
               > dead_before, 15, "the poison message reaches the dead-letter queue")
    connection.close()
    address = address_with_shape("solidity_single", 40)
    system.http.post("/contracts", json={"address": address, "refresh": True})
    assert system.wait_terminal(address)["status"] == "SUCCESS"

"""Malformed, hostile or huge Etherscan answers: each ends in a clear ERROR code, or, when it is a passing fault
(an HTML error page, a 5xx, something that is not Etherscan's JSON), is retried first; none makes settling a
message raise, which would have the consumer take the same message back forever.

A real HTTP server in a thread plays Etherscan with these bodies; the library's scanner scans each contract on the
real MariaDB and RabbitMQ, a retry played by scanning it again at once.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from ethsource import lookup, services
from ethsource.models import ScanItem
from ethsource.submission import Submission
from tests.faults.rig import TERMINAL, Reply, ScriptedEtherscan, fresh_addresses, library_settings
from tests.scanning import close_scanner

MAX_ATTEMPTS = 2
LIMIT_BYTES = 20 * 1024 * 1024


def answer(*items, status: str = "1", message: str = "OK", result=None) -> Reply:
    return Reply(json.dumps({"status": status, "message": message,
                             "result": list(items) if result is None else result}).encode())


def item(source_code, **fields) -> dict:
    return {"SourceCode": source_code, "ABI": "[]", "ContractName": "Token",
            "CompilerVersion": "v0.8.24+commit.e11b9ed9", "OptimizationUsed": "1", "Runs": "200", **fields}


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


CLOUDFLARE_PAGE = (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
                   b"<body><h1>Checking your browser</h1></body></html>")

# case -> (what Etherscan answers, the error code it must end with)
PERMANENT = {
    "source_code_invalid_json_in_double_braces": (answer(item('{{"language": "Solidity", "sources": {')),
                                                  "invalid_source"),
    "source_code_invalid_json_in_single_braces": (answer(item("{not json at all}")), "invalid_source"),
    "source_code_json_that_is_a_list_in_braces": (answer(item("{[1, 2]}")), "invalid_source"),
    "standard_json_source_entry_not_an_object": (
        answer(item(json.dumps({"language": "Solidity", "sources": {"A.sol": "contract A {}"}}))), "invalid_source"),
    "standard_json_sources_not_an_object": (
        answer(item(json.dumps({"language": "Solidity", "sources": ["A.sol"]}))), "invalid_source"),
    "file_map_with_no_files": (answer(item("{}")), "invalid_source"),
    "source_code_deeply_nested_json": (answer(item("{" + nested(100_000) + "}")), "invalid_source"),
    "source_code_not_a_string": (answer(item(12345)), "invalid_source"),
    "contract_name_not_a_string": (answer(item("contract A {}", ContractName={"x": 1})), "invalid_source"),
    "result_not_a_list": (answer(result="Contract source code not verified"), "etherscan_error"),
    "result_an_empty_list": (answer(result=[]), "etherscan_error"),
    "result_item_not_an_object": (answer(result=["contract A {}"]), "etherscan_error"),
    "result_item_without_any_key": (answer(result=[{}]), "not_verified"),
    "status_not_ok_with_an_unknown_reason": (answer(status="0", message="NOTOK", result="Query Timeout occured"),
                                             "etherscan_error"),
    "answer_of_50_mb": (answer(item("// padding\n" + "x" * (50 * 1024 * 1024))), "source_too_large"),
}
PASSING = {
    "not_json": Reply(b"upstream connect error or disconnect/reset before headers", content_type="text/plain"),
    "html_error_page_with_200": Reply(CLOUDFLARE_PAGE, content_type="text/html"),
    "html_error_page_with_502": Reply(b"<html><body><h1>502 Bad Gateway</h1></body></html>", status=502,
                                      content_type="text/html"),
    "html_error_page_with_503": Reply(CLOUDFLARE_PAGE, status=503, content_type="text/html"),
    "json_null": Reply(b"null"),
    "json_without_status": Reply(json.dumps({"message": "OK", "result": [item("contract A {}")]}).encode()),
    "truncated_json": Reply(json.dumps({"status": "1", "message": "OK", "result": [item("contract A {}")]})
                            .encode()[:60]),
    "invalid_utf8": Reply(b'{"status": "1", "message": "\xff\xfe", "result": []}'),
    "answer_deeply_nested": Reply(("[" * 100_000 + "]" * 100_000).encode()),
}


@pytest.fixture(scope="module")
def etherscan_replies(service_env, db):
    """address -> the reply the stand-in gives it; the library pointed at the stand-in, and an event loop for
    its scanner."""
    replies: dict[str, Reply] = {}
    loop = asyncio.new_event_loop()
    with (ScriptedEtherscan(lambda _, address: replies.get(address.lower())) as stand_in,
          # Etherscan alone: what it answers is the outcome (tests/security/test_provider_answers.py: the others).
          library_settings(service_env, SOURCE_PROVIDERS="etherscan", ETHERSCAN_API_URL=stand_in.url,
                           SCAN_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
                           SCAN_RETRY_BASE_DELAY="600", SCAN_MAX_SOURCE_BYTES=str(LIMIT_BYTES),
                           ETHERSCAN_RATE_LIMIT="1000")):
        yield replies, loop
        close_scanner(loop)


async def scan(address: str) -> dict:
    return dict(await services.scan_services().scanner.scan([ScanItem(chain_id=1, address=address)]))


def scan_with_reply(replies_and_loop, reply: Reply) -> tuple[list[dict], dict]:
    """Submit a fresh contract whose Etherscan answer is `reply`; scan it until it is terminal (a retry is
    scanned again at once here), at most as often as the scanner would try. The outcomes of each scan and the
    resource."""
    replies, loop = replies_and_loop
    [address] = fresh_addresses(1)
    replies[address.lower()] = reply
    services.services().submitter.submit_many([Submission(1, address)])
    outcomes = []
    for _ in range(MAX_ATTEMPTS):
        outcomes.append(loop.run_until_complete(scan(address)))
        [contract] = lookup.get_many(services.services().store, [(1, address)])
        if contract.status in TERMINAL:
            break
    return outcomes, contract.model_dump(mode="json")


@pytest.mark.parametrize("case", PERMANENT)
def test_a_malformed_answer_ends_in_a_clear_error_at_once(etherscan_replies, case):
    reply, code = PERMANENT[case]
    outcomes, contract = scan_with_reply(etherscan_replies, reply)
    assert outcomes == [{"error": 1}]
    assert contract["status"] == "ERROR" and contract["attempts"] == 1
    assert contract["error"]["code"] == code and contract["error"]["message"]


@pytest.mark.parametrize("case", PASSING)
def test_a_passing_fault_is_retried_then_ends_etherscan_unavailable(etherscan_replies, case):
    outcomes, contract = scan_with_reply(etherscan_replies, PASSING[case])
    assert outcomes == [{"retry": 1}] * (MAX_ATTEMPTS - 1) + [{"error": 1}]
    assert contract["status"] == "ERROR" and contract["attempts"] == MAX_ATTEMPTS
    assert contract["error"]["code"] == "etherscan_unavailable" and contract["error"]["message"]


@pytest.mark.parametrize("field, value", [("ContractName", "T" * 1000), ("CompilerVersion", "v" * 1000),
                                          ("ContractName", "Token\ud800"), ("ContractName", "Tok\x00en"),
                                          ("ABI", "[" * 100_000)])
def test_odd_metadata_in_a_verified_answer_is_stored_or_refused_never_a_crash(etherscan_replies, field, value):
    outcomes, contract = scan_with_reply(etherscan_replies, answer(item("contract A {}", **{field: value})))
    assert len(outcomes) == 1 and contract["status"] in TERMINAL, contract

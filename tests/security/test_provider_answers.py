"""Malformed, hostile or passing-fault answers of Sourcify and Blockscout, after Etherscan (the fake) has said "not
verified": each ends in a clear outcome within the attempts, never an exception out of the scan (which would have
the consumer take the message back forever), and a retry resumes at the provider that faulted.

A real HTTP server in a thread plays both with scripted bodies; the library's scanner scans each contract on the real
MariaDB and RabbitMQ, a retry played by scanning the retry message's contract again at once.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import pika
import pytest

from ethsource import lookup, services, sources
from ethsource.models import ScanItem, ScanMessage
from ethsource.submission import Submission
from ethsource_local.fake_etherscan import FakeConfig, running
from ethsource_local.fake_etherscan import stats as fake_stats
from tests.conftest import StandInServer, serve_in_thread
from tests.faults.rig import Reply, library_settings
from tests.scanning import close_scanner, fresh
from tests.unit import test_blockscout, test_sourcify
from tests.unit.source_checks import assert_archive_is_safe

MAX_ATTEMPTS = 2
HTML = Reply(b"<!DOCTYPE html><html><body><h1>Checking your browser</h1></body></html>", content_type="text/html")


def json_reply(document, status: int = 200) -> Reply:
    return Reply(json.dumps(document).encode(), status=status)


SOURCIFY_NOT_VERIFIED = json_reply(test_sourcify.NOT_VERIFIED, 404)
BLOCKSCOUT_NOT_FOUND = json_reply({"message": "Not found"}, 404)

# case -> (provider, its answer, the error code the contract must end with at once)
PERMANENT = {
    "sourcify_200_without_sources": (
        "sourcify", json_reply({k: v for k, v in test_sourcify.VERIFIED.items() if k != "sources"}), "invalid_source"),
    "sourcify_sources_not_an_object": ("sourcify", json_reply({**test_sourcify.VERIFIED, "sources": ["A.sol"]}),
                                       "invalid_source"),
    "sourcify_refusal": ("sourcify", json_reply({"customCode": "invalid_parameter", "message": "Invalid address",
                                                 "errorId": "e"}, 400), "sourcify_error"),
    "sourcify_json_nested_too_deep": ("sourcify", Reply(b"[" * 100_000 + b"]" * 100_000, status=404),
                                      "sourcify_error"),
    "blockscout_name_of_a_wrong_type": ("blockscout", json_reply({**test_blockscout.VERIFIED, "name": ["Token"]}),
                                        "invalid_source"),
    "blockscout_page_of_a_wrong_instance": ("blockscout", Reply(b"404 page not found", status=404,
                                                                 content_type="text/plain"), "blockscout_error"),
}
# case -> (provider, its answer): a passing fault, retried, then `<provider>_unavailable`
PASSING = {
    "sourcify_html_with_200": ("sourcify", HTML),
    "sourcify_truncated_json": ("sourcify", Reply(json.dumps(test_sourcify.VERIFIED).encode()[:80])),
    "sourcify_502": ("sourcify", Reply(b"<html>502 Bad Gateway</html>", status=502, content_type="text/html")),
    "blockscout_html_with_200": ("blockscout", HTML),
    "blockscout_truncated_json": ("blockscout", Reply(json.dumps(test_blockscout.VERIFIED).encode()[:80])),
}


class ScriptedExplorers:
    """Sourcify's and Blockscout's routes on one server: `script(provider, call_number, address)` picks each reply,
    None for "not verified". `calls` counts each provider's calls per address."""

    def __init__(self, script: Callable[[str, int, str], Reply | None]):
        self.calls: Counter[tuple[str, str]] = Counter()
        lock, calls = threading.Lock(), self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                provider = self.path.split("/")[1]
                address = self.path.split("?")[0].rstrip("/").split("/")[-1].lower()
                with lock:
                    calls[(provider, address)] += 1
                    number = calls[(provider, address)]
                reply = script(provider, number, address) or (
                    SOURCIFY_NOT_VERIFIED if provider == "sourcify" else BLOCKSCOUT_NOT_FOUND)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args):
                pass

        self._server = StandInServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> ScriptedExplorers:
        self._stop = serve_in_thread(self._server)
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop()


@pytest.fixture(scope="module")
def explorers(service_env, db):
    """(provider, address) -> the replies the stand-in gives in turn (the last one again after them); the stand-in;
    an event loop for the library's scanner; Etherscan's URL, the fake's, which verifies none of the addresses used
    here."""
    replies: dict[tuple[str, str], list[Reply]] = {}

    def script(provider: str, number: int, address: str) -> Reply | None:
        given = replies.get((provider, address))
        return given[min(number, len(given)) - 1] if given else None

    loop = asyncio.new_event_loop()
    with (ScriptedExplorers(script) as stand_in, running(FakeConfig()) as etherscan,
          library_settings(service_env, ETHERSCAN_API_URL=etherscan, SOURCIFY_API_URL=f"{stand_in.root}/sourcify",
                           BLOCKSCOUT_API_URLS=f"1={stand_in.root}/blockscout", SCAN_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
                           SCAN_RETRY_BASE_DELAY="600", SOURCIFY_RATE_LIMIT="1000", BLOCKSCOUT_RATE_LIMIT="1000",
                           ETHERSCAN_RATE_LIMIT="1000")):
        yield replies, stand_in, loop, etherscan
        close_scanner(loop)


def submitted(explorers, provider: str, *replies: Reply) -> str:
    """A fresh contract, submitted, whose answers from `provider` are `replies`."""
    [address] = fresh("unverified", 1)
    explorers[0][(provider, address.lower())] = list(replies)
    services.services().submitter.submit_many([Submission(1, address)])
    return address


def scan(explorers, item: ScanItem) -> dict:
    async def scanned():
        return await services.scan_services().scanner.scan([item])
    return dict(explorers[2].run_until_complete(scanned()))


def resource(address: str):
    [contract] = lookup.get_many(services.services().store, [(1, address)])
    return contract


def retry_message(address: str) -> ScanItem:
    """The contract's retry message, taken from the first retry queue."""
    shared = services.services()
    connection = pika.BlockingConnection(pika.URLParameters(shared.settings.rabbitmq_url))
    channel = connection.channel()
    try:
        while (got := channel.basic_get(shared.topology.retry_queue(1), auto_ack=True))[0] is not None:
            [item] = ScanMessage.from_body(got[2]).contracts
            if item.address == address:
                return item
    finally:
        connection.close()
    raise AssertionError(f"no retry message for {address}")


def scan_until_settled(explorers, address: str) -> list[dict]:
    """Scan as the queue would: the submission's message, then each retry's, at most as often as allowed."""
    outcomes = [scan(explorers, ScanItem(chain_id=1, address=address))]
    while outcomes[-1] == {"retry": 1} and len(outcomes) < MAX_ATTEMPTS:
        outcomes.append(scan(explorers, retry_message(address)))
    return outcomes


@pytest.mark.parametrize("case", PERMANENT)
def test_an_answer_that_cannot_be_a_source_ends_in_a_clear_error_at_once(explorers, case):
    provider, reply, code = PERMANENT[case]
    address = submitted(explorers, provider, reply)
    assert scan_until_settled(explorers, address) == [{"error": 1}]
    contract = resource(address)
    assert (contract.status, contract.attempts, contract.error.code) == ("ERROR", 1, code)
    assert contract.error.message


@pytest.mark.parametrize("case", PASSING)
def test_a_passing_fault_is_retried_at_its_provider_then_ends_unavailable(explorers, case):
    provider, reply = PASSING[case]
    address = submitted(explorers, provider, reply)
    assert scan_until_settled(explorers, address) == [{"retry": 1}] * (MAX_ATTEMPTS - 1) + [{"error": 1}]
    contract = resource(address)
    assert (contract.status, contract.attempts, contract.error.code) == ("ERROR", MAX_ATTEMPTS,
                                                                         f"{provider}_unavailable")


def test_a_retry_resumes_at_the_provider_that_faulted_and_asks_the_earlier_ones_no_more(explorers):
    address = submitted(explorers, "sourcify", Reply(b"<html>502</html>", status=502),
                        json_reply(test_sourcify.VERIFIED))
    assert scan(explorers, ScanItem(chain_id=1, address=address)) == {"retry": 1}
    retry = retry_message(address)
    assert retry.provider == "sourcify"
    stand_in_calls, etherscan_calls = explorers[1].calls.copy(), fake_stats(explorers[3])["calls"]

    assert scan(explorers, retry) == {"success": 1}
    contract = resource(address)
    assert (contract.status, contract.attempts, contract.provider, contract.match) == (
        "SUCCESS", 2, "sourcify", "exact_match")
    assert explorers[1].calls - stand_in_calls == Counter({("sourcify", address.lower()): 1})
    assert fake_stats(explorers[3])["calls"] == etherscan_calls


def test_paths_that_climb_out_are_kept_inside_the_archive(explorers, tmp_path):
    climbing = {"../../etc/passwd": {"content": "x"}, "/abs/Token.sol": {"content": "y"},
                "contracts/../../../Storage.sol": {"content": test_sourcify.STORAGE}}
    address = submitted(explorers, "sourcify", json_reply({**test_sourcify.VERIFIED, "sources": climbing}))
    assert scan_until_settled(explorers, address) == [{"success": 1}]
    _, source = lookup.get_source(services.services().store, 1, address)
    names = assert_archive_is_safe(sources.to_zip(source), tmp_path)
    assert {"etc/passwd", "abs/Token.sol", "Storage.sol"} <= set(names)

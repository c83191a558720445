"""The gateway in front of the functions (`ethsource run`'s nginx): every answer it makes itself, to requests
it cannot parse or will not take, is the API's JSON error with the right status, never nginx's HTML page; and past
its admission it refuses at once."""

from __future__ import annotations

import json
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest

from ethsource.config import Settings
from ethsource_local import runner
from ethsource_local.processes import Process, started
from ethsource_local.runner import PROCESSES, Layout, Runner
from tests.conftest import answers, free_port_block, serve_in_thread

ADDRESS = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
REFUSED = {
    "nul-in-path": (b"GET /contracts/%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "10-kb-path": (b"GET /contracts/" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "content-length-abc": (b"POST /contracts HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    "no-host": (b"GET /contracts/" + ADDRESS.encode() + b" HTTP/1.1\r\n\r\n", 400),
    "no-request-line": (b"GARBAGE\r\n\r\n", 400),
    "http-2-request-line": (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    "unknown-transfer-encoding": (b"POST /contracts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    "huge-header": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    "body-too-large": (b"POST /contracts HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n", 413),
    "method-on-the-openapi-file": (b"POST /openapi.json HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
    "its-own-error-page": (b"GET /_gateway/error HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    # Raw non-ASCII bytes pass nginx to the status function, whose server refuses them (ethsource.http_protocol).
    "non-ascii-path": (b"GET /contracts/0xd\xc3\xa9f HTTP/1.1\r\nHost: x\r\n\r\n", 400),
}


def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` on a connection of its own; the status, headers and body of the answer."""
    with closing(socket.create_connection(("127.0.0.1", port), timeout=10)) as connection:
        connection.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < content_length(received):
            if not (chunk := connection.recv(65536)):
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    return int(status_line.split()[1]), dict(line.lower().split(": ", 1) for line in header_lines), body


def content_length(received: bytes) -> int:
    for line in received.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 1 << 30


@pytest.mark.parametrize("request_bytes, status", REFUSED.values(), ids=REFUSED.keys())
def test_a_request_the_gateway_refuses_gets_the_json_error(system, request_bytes, status):
    answered, headers, body = exchange(urlsplit(system.base_url).port, request_bytes)
    assert answered == status
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message"} and error["code"] and error["message"]


def test_a_function_that_does_not_answer_is_a_json_503_with_retry_after():
    # The gateway alone, its functions' ports with nothing behind them.
    layout = Layout(free_port_block(1 + len(PROCESSES)))
    gateway = Process("gateway", Runner(layout, Settings.from_env({}), fake_latency_ms=0).gateway_command(),
                      stop_signal=signal.SIGQUIT)
    url = f"http://127.0.0.1:{layout.gateway}"
    with started(gateway, lambda: answers(f"{url}/openapi.json"), 30, "it serves the OpenAPI document"):
        answer = httpx.post(f"{url}/contracts", json={"address": ADDRESS})
    assert (answer.status_code, answer.headers["content-type"], answer.headers["retry-after"]) == (
        503, "application/json", "5")
    assert answer.json()["error"]["code"] == "unavailable"


class Slow(BaseHTTPRequestHandler):
    """A function that takes HOLD_S to answer every request."""

    HOLD_S = 1.5

    def do_GET(self):  # noqa: N802 (http.server's names)
        time.sleep(self.HOLD_S)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):
        pass


@contextmanager
def gateway_before_slow_functions(monkeypatch, admitted: int):
    """The gateway admitting `admitted` requests per route, every function behind it slow."""
    layout = Layout(free_port_block(1 + len(PROCESSES)))
    stops = [serve_in_thread(ThreadingHTTPServer(("127.0.0.1", layout.port(name)), Slow))
             for name in ("submit", "status")]
    monkeypatch.setattr(runner, "GATEWAY_ADMITTED", admitted)
    gateway = Process("gateway", Runner(layout, Settings.from_env({}), fake_latency_ms=0).gateway_command(),
                      stop_signal=signal.SIGQUIT)
    url = f"http://127.0.0.1:{layout.gateway}"
    try:
        with started(gateway, lambda: answers(f"{url}/openapi.json"), 30, "it serves the OpenAPI document"):
            yield url
    finally:
        for stop in stops:
            stop()


def test_past_its_admission_the_gateway_refuses_at_once_with_a_json_503_and_long_polls_are_not_counted(monkeypatch):
    with gateway_before_slow_functions(monkeypatch, admitted=2) as url, ThreadPoolExecutor(12) as pool:
        submissions = pool.map(lambda _: httpx.post(f"{url}/contracts", json={"address": ADDRESS}, timeout=10),
                               range(6))
        long_polls = pool.map(lambda _: httpx.get(f"{url}/contracts/{ADDRESS}?wait=5", timeout=10), range(6))
        submissions, long_polls = list(submissions), list(long_polls)
    refused = [answer for answer in submissions if answer.status_code == 503]
    assert sorted(answer.status_code for answer in submissions) == [200, 200, 503, 503, 503, 503]
    for answer in refused:
        assert (answer.headers["content-type"], answer.headers["retry-after"]) == ("application/json", "1")
        assert answer.json()["error"]["code"] == "overloaded"
        assert answer.elapsed.total_seconds() < Slow.HOLD_S  # refused at once, not after waiting for a slot
    assert [answer.status_code for answer in long_polls] == [200] * 6

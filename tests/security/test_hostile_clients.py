"""A function served as a platform runs it (`ethsource serve`, no gateway in front), against clients that break
HTTP or stall: what uvicorn itself refuses is the API's JSON error, a client that stalls its headers or its body
is answered and let go within seconds, and liveness never depends on the load they make."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing

import httpx
import pytest

from ethsource.http import BODY_TIMEOUT_S
from ethsource.http_protocol import HEADER_TIMEOUT_S
from tests.conftest import serving, wait_until
from tests.scanning import fresh

STALLERS = 520  # more than a function's admission slots (http.MAX_IN_FLIGHT)


@pytest.fixture(scope="module")
def submit(service_env, db) -> Iterator[int]:
    with serving("submit", service_env) as port:
        yield port


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    connection.settimeout(timeout)
    return connection


def read_answer(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the one answer on `connection`; the server closes it after that."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("request_bytes", [
    b"GET /contracts/0xd\xc3\xa9f HTTP/1.1\r\nHost: x\r\n\r\n",  # raw non-ASCII in the path
    b"POST /contracts HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GARBAGE\r\n\r\n",
], ids=["non-ascii-path", "content-length-abc", "no-request-line"])
def test_a_request_the_server_cannot_parse_is_refused_with_the_json_error(submit, request_bytes):
    with closing(connect(submit)) as connection:
        connection.sendall(request_bytes)
        status, headers, body = read_answer(connection)
    assert (status, headers["content-type"], headers["connection"]) == (400, "application/json", "close")
    assert httpx.Response(status, content=body).json()["error"]["code"] == "bad_request"


def test_pipelined_requests_get_whole_answers_in_their_order(submit):
    """Each answer leaves in one write (http_protocol.OneWriteAnswers); pipelined ones must not interleave."""
    addresses = fresh("solidity_single", 2)
    requests = [f'POST /contracts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: '
                f'{len(body)}\r\n\r\n{body}'.encode() for body in (f'{{"address": "{a}"}}' for a in addresses)]
    requests.append(b"GET /_/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    with closing(connect(submit)) as connection:
        connection.sendall(b"".join(requests))
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    answers = []
    while received:
        head, _, rest = received.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length"))
        answers.append((int(head.split()[1]), rest[:length]))
        received = rest[length:]
    assert [status for status, _ in answers] == [202, 202, 200]
    assert [httpx.Response(202, content=body).json()["address"] for _, body in answers[:2]] == addresses


def test_a_client_that_stalls_its_headers_is_answered_408_and_closed_after_the_bound(submit):
    with closing(connect(submit, timeout=HEADER_TIMEOUT_S + 10)) as half, \
            closing(connect(submit, timeout=HEADER_TIMEOUT_S + 10)) as silent:
        started = time.monotonic()
        half.sendall(b"POST /contracts HTTP/1.1\r\nHost: x\r\nContent-Ty")
        status, headers, body = read_answer(half)
        took = time.monotonic() - started
        assert silent.recv(1) == b""  # one that never sent a byte is closed without an answer
    assert HEADER_TIMEOUT_S - 1 < took < HEADER_TIMEOUT_S + 5
    assert (status, headers["content-type"]) == (408, "application/json")
    assert httpx.Response(status, content=body).json()["error"]["code"] == "request_timeout"


def test_stalled_bodies_hold_no_slot_and_are_answered_408_while_liveness_and_submissions_go_on(submit):
    url = f"http://127.0.0.1:{submit}"
    with ExitStack() as stack:
        stalled = [stack.enter_context(closing(connect(submit, timeout=BODY_TIMEOUT_S + 20))) for _ in range(STALLERS)]
        started = time.monotonic()
        for connection in stalled:
            connection.sendall(b"POST /contracts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                               b"Content-Length: 1000\r\n\r\n{\"address\"")
        # Liveness answers at once, and a submission is served: the stalled requests hold no admission slot.
        wait_until(lambda: httpx.get(f"{url}/_/health").status_code == 200, 5, "liveness answers")
        address = fresh("solidity_single", 1)[0]
        assert httpx.post(f"{url}/contracts", json={"address": address}, timeout=5).status_code == 202
        answers = [read_answer(connection)[0] for connection in stalled]
        took = time.monotonic() - started
    assert answers == [408] * STALLERS
    assert took < BODY_TIMEOUT_S + 10
    assert httpx.get(f"{url}/_/health").status_code == 200

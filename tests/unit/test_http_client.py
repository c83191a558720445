"""The lean HTTP client (the scanner's calls to the explorers, the load generator's requests) against a real server in
the test's own loop: connections kept and reused, answers framed by length or in chunks, the size limit, TLS, and
each way a request can fail told apart from an answer."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess

import pytest

from ethsource import http_client


class Server:
    """Reads one request at a time on each connection and answers as the test's `answer` says."""

    def __init__(self, answer):
        self.answer, self.connections, self.requests = answer, 0, []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.requests.append(head + await reader.readexactly(length))
                reply = await self.answer(len(self.requests))
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):  # the last: the test ended
            pass
        finally:
            writer.close()


def served(answer, scenario, limit=4, tls: ssl.SSLContext | None = None, **client_args):
    """scenario(client, server) against a Server answering with `answer`, over TLS with `tls` (the server's)."""
    async def run():
        server = Server(answer)
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
        port = listener.sockets[0].getsockname()[1]
        base = f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}"
        client = http_client.Client(base, limit=limit, timeout=0.5, **client_args)
        try:
            return await scenario(client, server)
        finally:
            client.close()
            listener.close()

    return asyncio.run(run())


def ok(body: bytes = b'{"status": "CREATED"}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: \"e1\"\r\n%s\r\n%s" % (len(body), extra, body)


async def always_ok(_number: int) -> bytes:
    return ok()


def test_an_answer_has_its_status_headers_and_body_and_the_request_what_was_asked():
    async def scenario(client, server):
        answer = await client.request("POST", "/contracts?x=1", body=b'{"a": 1}',
                                      headers={"Content-Type": "application/json"})
        return answer, server.requests[0]

    answer, request = served(always_ok, scenario)
    assert (answer.status, answer.headers["etag"], answer.body) == (200, '"e1"', b'{"status": "CREATED"}')
    assert request.startswith(b"POST /contracts?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Content-Length: 8\r\n" in request and b"Content-Type: application/json\r\n" in request
    assert request.endswith(b'\r\n\r\n{"a": 1}')


async def closing(_number: int) -> bytes:
    return ok(extra=b"Connection: close\r\n")


@pytest.mark.parametrize("answer, connections_opened", [(always_ok, 1), (closing, 3)])
def test_requests_one_after_another_share_a_connection_unless_an_answer_closes_it(answer,
                                                                                  connections_opened):
    async def scenario(client, server):
        for _ in range(3):
            assert (await client.request("GET", "/c")).status == 200
        return server.connections

    assert served(answer, scenario) == connections_opened


def test_concurrent_requests_open_at_most_the_limit_of_connections():
    async def slow_ok(_number):
        await asyncio.sleep(0.05)
        return ok()

    async def scenario(client, server):
        answers = await asyncio.gather(*(client.request("GET", "/c") for _ in range(12)))
        return [a.status for a in answers], server.connections

    statuses, connections = served(slow_ok, scenario)
    assert statuses == [200] * 12 and connections == 4


def test_a_chunked_answer_is_read_whole():
    async def chunked(_number):
        return (b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
                b'5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n')

    answer = served(chunked, lambda client, _server: client.request("GET", "/c"))
    assert (answer.status, answer.body) == (503, b'{"a": 1}')


def test_no_answer_in_time_is_a_timeout_and_its_connection_is_closed():
    async def first_never(number):
        if number == 1:
            await asyncio.sleep(5)
        return ok()

    async def scenario(client, server):
        with pytest.raises(TimeoutError):
            await client.request("GET", "/slow", timeout=0.1)
        answer = await client.request("GET", "/c")
        return answer.status, server.connections

    assert served(first_never, scenario) == (200, 2)


def test_a_connection_closed_before_the_answer_fails_the_request_and_the_next_one_connects_again():
    async def first_closes(number):
        return None if number == 1 else ok()

    async def scenario(client, server):
        with pytest.raises(http_client.ConnectionFailed, match="closed the connection"):
            await client.request("GET", "/c")
        return (await client.request("GET", "/c")).status, server.connections

    assert served(first_closes, scenario) == (200, 2)


def test_what_is_not_http_fails_the_request():
    async def garbage(_number):
        return b"SSH-2.0-OpenSSH\r\n\r\n"

    async def scenario(client, _server):
        with pytest.raises(http_client.ConnectionFailed, match="not an HTTP answer"):
            await client.request("GET", "/c")

    served(garbage, scenario)


def test_a_closed_port_fails_the_request():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def scenario():
        with pytest.raises(http_client.ConnectionFailed, match="cannot connect"):
            await http_client.Client(f"http://127.0.0.1:{port}", limit=1, timeout=1).request("GET", "/")

    asyncio.run(scenario())


def test_no_connection_in_time_is_a_timeout_not_a_failure():
    """A server whose queue of connections to accept is full drops the handshake: the request times out (the
    timeout of the connect is an OSError too, and is not to be told as a refused connection)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # never accepts: one connection fills its queue, the next handshakes are dropped
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(2)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))

        async def scenario():
            with pytest.raises(TimeoutError):
                await http_client.Client(f"http://127.0.0.1:{port}", limit=1, timeout=0.3).request("GET", "/")

        try:
            asyncio.run(scenario())
        finally:
            for filler in fillers:
                filler.close()


def test_a_request_that_waits_for_a_turn_past_its_timeout_times_out_and_holds_no_turn():
    async def slow_ok(_number):
        await asyncio.sleep(0.3)
        return ok()

    async def scenario(client, _server):  # one connection: the second request waits for the first's turn
        first = asyncio.create_task(client.request("GET", "/slow"))
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):
            await client.request("GET", "/c", timeout=0.1)
        assert (await first).status == 200
        return (await client.request("GET", "/c")).status  # would wait out its timeout had a turn been kept

    assert served(slow_ok, scenario, limit=1) == 200


def test_the_clients_headers_go_with_every_request_and_a_get_has_no_body():
    async def scenario(client, server):
        await client.request("GET", "/api?chainid=1")
        return server.requests[0]

    request = served(always_ok, scenario, headers={"Accept": "application/json", "User-Agent": "ethsource"})
    assert request.startswith(b"GET /api?chainid=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Accept: application/json\r\nUser-Agent: ethsource\r\n" in request
    assert b"Content-Length" not in request


@pytest.mark.parametrize("framing", ["length", "chunks"])
def test_an_answer_over_the_limit_fails_while_it_is_read_and_its_connection_is_closed(framing):
    async def large(number):
        if number > 1:
            return ok()
        if framing == "length":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b" " * 100
        chunk = b"20\r\n" + b" " * 32 + b"\r\n"  # 32 bytes: the second is past the limit
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2 + b"0\r\n\r\n"

    async def scenario(client, server):
        with pytest.raises(http_client.AnswerTooLarge, match="larger than 40 bytes"):
            await client.request("GET", "/large")
        return (await client.request("GET", "/c")).body, server.connections

    assert served(large, scenario, max_bytes=40) == (b'{"status": "CREATED"}', 2)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for localhost, and its key (files)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


def server_tls(certificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_https_is_spoken_with_a_certificate_the_client_trusts(certificate):
    trusting = ssl.create_default_context(cafile=certificate[0])
    answer = served(always_ok, lambda client, _server: client.request("GET", "/c"), tls=server_tls(certificate),
                    ssl_context=trusting)
    assert (answer.status, answer.body) == (200, b'{"status": "CREATED"}')


def test_a_certificate_that_does_not_verify_fails_the_connection(certificate):
    async def scenario(client, _server):  # the default context: the system's authorities, which never signed it
        with pytest.raises(http_client.ConnectionFailed, match="cannot connect: SSLCertVerificationError"):
            await client.request("GET", "/c")

    served(always_ok, scenario, tls=server_tls(certificate))

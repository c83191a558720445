"""ProviderHttp against a real HTTP server in the test's own loop: the body's size limit, timeouts and refused
connections as passing faults whose messages carry no URL (a URL can hold an API key), no redirect followed."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from ethsource.provider_http import ProviderHttp
from ethsource.sources import ProviderError

MAX_BYTES = 64 * 1024
KEY = "SECRETKEY123"


async def slow(_request: web.Request) -> web.Response:
    await asyncio.sleep(1)
    return web.json_response({})


async def large(_request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(_request)
    for _ in range(4):  # sent in parts, without a length: the limit holds while reading
        await response.write(b" " * (MAX_BYTES // 2))
    await response.write_eof()
    return response


async def echo(request: web.Request) -> web.Response:
    return web.json_response({"query": dict(request.query), "accept": request.headers.get("Accept")})


async def moved(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/echo")


def get(path: str, *, port: int | None = None) -> tuple[int, bytes] | ProviderError:
    """One GET through a fresh ProviderHttp to a server serving the handlers above (or to `port`)."""

    async def call():
        app = web.Application()
        app.add_routes([web.get("/slow", slow), web.get("/large", large), web.get("/echo", echo),
                        web.get("/moved", moved)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        served = runner.addresses[0][1]
        http = ProviderHttp("sourcify", timeout_s=0.2, max_bytes=MAX_BYTES, max_connections=2)
        try:
            return await http.get(f"http://127.0.0.1:{port or served}{path}")
        except ProviderError as exc:
            return exc
        finally:
            await http.close()
            await runner.cleanup()

    return asyncio.run(call())


def a_closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_query_is_sent_and_json_asked_for():
    status, body = get(f"/echo?chainid=1&apikey={KEY}")
    assert status == 200 and b'"chainid": "1"' in body and b'"accept": "application/json"' in body


def test_an_answer_over_the_limit_is_refused_while_it_is_read():
    error = get("/large")
    assert (error.code, error.transient) == ("source_too_large", False)


@pytest.mark.parametrize("path, port, message", [
    ("/slow", None, "Sourcify did not answer in time"),
    ("/echo", "closed", "cannot reach Sourcify (cannot connect: Connection refused)"),
])
def test_a_fault_is_passing_and_names_no_url(path, port, message):
    error = get(f"{path}?apikey={KEY}", port=a_closed_port() if port else None)
    assert (error.code, error.transient, error.message) == ("sourcify_unavailable", True, message)
    assert KEY not in str(error) and "127.0.0.1" not in str(error)


def test_a_redirect_is_answered_not_followed():
    status, _ = get("/moved")
    assert status == 302

"""A lean HTTP/1.1 client: keep-alive connections to one server, answers parsed by httptools (C).

What calls the explorers (ethsource.provider_http) and what the load generator sends with. Both are bound by
their CPU, and aiohttp's client took much of it: its request path was 38 % of the scanner's samples (py-spy), and
it cost the load generator about 250 µs a request (docs/performance.md). This one does only what they need: one
server, a request at a time on each connection, a total timeout a request (the wait for a turn and the connection
included), the body read whole up to a limit, TLS for https. Not done: redirects (answered, not followed),
proxies, cookies, compressed answers (none is asked for), and answers framed by the server closing the connection
(refused as ConnectionFailed: the explorers frame theirs by length or in chunks).
"""

from __future__ import annotations

import asyncio
import os
import ssl
from contextlib import nullcontext
from typing import NamedTuple
from urllib.parse import urlsplit

import httptools


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


class ConnectionFailed(Exception):
    """No answer: the connection could not be made, was closed before the answer, or the answer was not HTTP."""


class AnswerTooLarge(Exception):
    """The answer's body grew past the client's limit; it was not read further."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request written, its answer awaited, then free for the next."""

    def __init__(self, max_bytes: int | None):
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: asyncio.Future | None = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.size, self.max_bytes = 0, max_bytes
        self.open = True

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionFailed(f"not an HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail(ConnectionFailed("the server closed the connection before answering"))

    # httptools' callbacks
    def on_message_begin(self) -> None:
        self.headers, self.body, self.size = {}, [], 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.max_bytes is not None and self.size > self.max_bytes:
            self._fail(AnswerTooLarge(f"the answer is larger than {self.max_bytes} bytes"))
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.close()
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(Answer(self.parser.get_status_code(), self.headers, b"".join(self.body)))

    def send(self, request: bytes, answer: asyncio.Future) -> None:
        self.answer = answer
        self.transport.write(request)

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)
        self.close()


def _time_out(answer: asyncio.Future) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError())


class Client:
    """Requests to the server of `base_url` (http or https), at most `limit` at once (beyond it a request waits its
    turn), each on a keep-alive connection of its own while it runs; `headers` go with every request."""

    def __init__(self, base_url: str, *, limit: int, timeout: float, headers: dict[str, str] | None = None,
                 max_bytes: int | None = None, ssl_context: ssl.SSLContext | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"only http:// and https:// are supported: {base_url}")
        self.host, self.port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = (ssl_context or ssl.create_default_context()) if parts.scheme == "https" else None
        self._prefix = parts.path.rstrip("/")
        self._head = f"Host: {parts.netloc}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in
                                                           (headers or {}).items())
        self.timeout, self._max_bytes = timeout, max_bytes
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []

    async def request(self, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None,
                      timeout: float | None = None) -> Answer:
        """The answer; TimeoutError when none came within the timeout (the wait for a turn included),
        ConnectionFailed when the connection failed or was closed before the answer, AnswerTooLarge past the
        limit."""
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items()) if headers else ""
        length = f"Content-Length: {len(body)}\r\n" if body or method != "GET" else ""
        request = (f"{method} {self._prefix}{path} HTTP/1.1\r\n{self._head}{length}{extra}\r\n").encode("latin-1")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout or self.timeout)
        # asyncio.timeout costs twice a bare timer: it bounds only the rare waits, for a turn or a new connection
        async with asyncio.timeout_at(deadline) if self._slots.locked() else nullcontext():
            await self._slots.acquire()
        try:
            connection = self._idle_connection() or await self._connect(loop, deadline)
            answer = loop.create_future()
            expiry = loop.call_at(deadline, _time_out, answer)
            try:
                connection.send(request + body, answer)
                result = await answer
            except BaseException:  # failed or timed out mid-request: the connection is in no state to reuse
                connection.close()
                raise
            finally:
                expiry.cancel()
        finally:
            self._slots.release()
        connection.answer = None
        if connection.open:
            self._idle.append(connection)
        return result

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.open:
                return connection
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        async with asyncio.timeout_at(deadline):  # outside the except: its TimeoutError is an OSError too
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(self._max_bytes), self.host, self.port, ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None)
            except OSError as exc:  # ssl.SSLError too: a certificate that does not verify
                # the reason alone: the loops' own messages name the address
                plain = exc.errno and not isinstance(exc, ssl.SSLError)
                reason = os.strerror(exc.errno) if plain else type(exc).__name__
                raise ConnectionFailed(f"cannot connect: {reason}") from None
        return connection

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

"""The load generator's HTTP/1.1 client: keep-alive connections to one server, answers parsed by httptools.

The generator shares the cores with the system it measures, so what it spends is taken from the system.
aiohttp's client cost it about 250 µs of CPU a request; this one does only what the load script needs (one
server, a request at a time on each connection, a total timeout a request, the body read whole) for a fraction.
"""

from __future__ import annotations

import asyncio
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


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request written, its answer awaited, then free for the next."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: asyncio.Future | None = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
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
        self.headers, self.body = {}, []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
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
    """Requests to the server of `base_url`, at most `limit` at once (beyond it a request waits its turn), each on
    a keep-alive connection of its own while it runs."""

    def __init__(self, base_url: str, *, limit: int, timeout: float):
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError(f"only http:// is supported: {base_url}")
        self.host, self.port = parts.hostname, parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._host_header = f"Host: {parts.netloc}\r\n"
        self.timeout = timeout
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []

    async def request(self, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None,
                      timeout: float | None = None) -> Answer:
        """The answer; TimeoutError when none came within the timeout (the wait for a turn included),
        ConnectionFailed when the connection failed or was closed before the answer."""
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items()) if headers else ""
        request = (f"{method} {self._prefix}{path} HTTP/1.1\r\n{self._host_header}"
                   f"Content-Length: {len(body)}\r\n{extra}\r\n").encode("latin-1") + body
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
                connection.send(request, answer)
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
                _, connection = await loop.create_connection(_Connection, self.host, self.port)
            except OSError as exc:
                raise ConnectionFailed(f"cannot connect: {exc.strerror or exc}") from None
        return connection

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

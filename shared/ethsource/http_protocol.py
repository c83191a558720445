"""The HTTP/1.1 protocol the functions serve with (ethsource serve): uvicorn's httptools protocol, its request
headers bounded in time, each answer written at once, its own refusals in the API's JSON error shape, and the
process's garbage collector set for serving at its first connection."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .http import error_body
from .serving import collect_less

# From a connection's start, or a request's first byte, to the end of its headers. uvicorn has no such bound:
# a client that sends half a header (slowloris) holds its connection forever. The body has its own
# (http.BODY_TIMEOUT_S), taken while the request holds an admission slot.
HEADER_TIMEOUT_S = 10.0


class FunctionHttpProtocol(HttpToolsProtocol):
    """A subclass, not a setting: uvicorn offers neither a header timeout nor a way to shape the answers it gives
    itself (text/plain). Only the hooks around the header phase and the refusal are overridden, and the first
    connection of a process settles its garbage collector for serving."""

    collecting_less = False  # in this process, since its first connection (serving.collect_less)

    def connection_made(self, transport: asyncio.Transport) -> None:
        if not FunctionHttpProtocol.collecting_less:  # serving: the modules are imported by now
            collect_less()
            FunctionHttpProtocol.collecting_less = True
        super().connection_made(transport)
        self._reading_headers = False
        self._header_deadline: asyncio.TimerHandle | None = self.loop.call_later(HEADER_TIMEOUT_S,
                                                                                  self._headers_too_slow)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers = True
        if self._header_deadline is None:  # a later request on a kept-alive connection: its own deadline
            self._header_deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._headers_too_slow)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._cancel_header_deadline()
        cycle = self.cycle
        super().on_headers_complete()
        if self.cycle is not cycle:  # a request to answer (an upgrade makes none)
            self.cycle.transport = OneWriteAnswers(self.transport, self.loop)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        # httptools could not parse the request (a bad request line, header or framing; raw non-ASCII bytes
        # in the path): uvicorn answers text/plain "Invalid HTTP request received." and closes.
        self._refuse(400, "bad_request", "the request is not valid HTTP/1.1 (its request line, a header or the"
                                         " framing of its body)")

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # an answer is under way: the connection ends with it
        elif self._reading_headers:
            self._refuse(408, "request_timeout", f"the request's headers did not arrive within {HEADER_TIMEOUT_S:g} s")
        else:
            self.transport.close()  # connected and silent: nothing to answer

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _refuse(self, status: int, code: str, message: str) -> None:
        body = error_body(code, message)
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: application/json\r\ncontent-length: ", str(len(body)).encode(),
                 b"\r\nconnection: close\r\n\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


class OneWriteAnswers:
    """The transport as an answer's cycle sees it: the answer's head and body in one write.

    uvicorn writes them apart, and uvloop sends each write at once when nothing waits to be sent: two send()
    calls an answer, and two wake-ups of the gateway reading it. The head is held until the next write, which for
    the functions' answers comes in the same step (http._send); a write alone goes out at the loop's next turn.
    Measured in docs/performance.md.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport, self._loop = transport, loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._held is None:
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            held, self._held = self._held, None
            self._transport.write(held + data)

    def flush(self) -> None:
        if self._held is not None and not self._transport.is_closing():
            held, self._held = self._held, None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str):  # everything else (is_closing, ...) is the transport's
        return getattr(self._transport, name)

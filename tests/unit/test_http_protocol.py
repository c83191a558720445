"""OneWriteAnswers: an answer's head and body leave in one write, in order, and nothing is held past a loop turn."""

from __future__ import annotations

import asyncio

from ethsource.http_protocol import OneWriteAnswers


class RecordingTransport:
    def __init__(self):
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def written(steps) -> list[bytes]:
    transport = RecordingTransport()
    answers = OneWriteAnswers(transport, asyncio.get_running_loop())
    await steps(answers)
    return transport.writes


def test_an_answers_head_and_body_leave_in_one_write():
    async def answer(answers: OneWriteAnswers) -> None:
        answers.write(b"HTTP/1.1 200 OK\r\n\r\n")
        answers.write(b"{}")
        await asyncio.sleep(0)

    assert asyncio.run(written(answer)) == [b"HTTP/1.1 200 OK\r\n\r\n{}"]


def test_a_write_alone_leaves_at_the_loops_next_turn_and_writes_keep_their_order():
    async def stream(answers: OneWriteAnswers) -> None:
        answers.write(b"head")
        await asyncio.sleep(0)
        answers.write(b"chunk 1")
        answers.write(b"chunk 2")
        answers.write(b"chunk 3")
        await asyncio.sleep(0)

    assert asyncio.run(written(stream)) == [b"head", b"chunk 1chunk 2", b"chunk 3"]


def test_close_sends_what_is_held_first_and_nothing_is_written_after():
    transport = RecordingTransport()

    async def close_early() -> None:
        answers = OneWriteAnswers(transport, asyncio.get_running_loop())
        answers.write(b"HTTP/1.1 200 OK\r\n\r\n")
        answers.close()
        await asyncio.sleep(0)
        assert answers.is_closing()  # the transport's own

    asyncio.run(close_early())
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n"] and transport.closed

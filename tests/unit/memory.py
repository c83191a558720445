"""In-memory stand-ins for the library's ports, for the fast unit tests: a publisher that keeps what it is given."""

from __future__ import annotations


class Published:
    """A publisher that keeps every group of outgoing messages, in order."""

    def __init__(self) -> None:
        self.outgoing: list = []

    def publish(self, outgoing) -> None:
        self.outgoing.extend(outgoing)

"""Fault tests stop and start the shared MariaDB and RabbitMQ: they carry the `faults` marker and run last in
the session (tests/conftest.py), so no other module's test meets an outage of theirs; every outage is seconds
long, and the services are always brought back and awaited, whatever the test did."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.faults.rig import ensure_connected

HERE = Path(__file__).resolve().parent


def _succeeds(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True).returncode == 0


@dataclass(frozen=True)
class Service:
    """A shared service with the commands of DESIGN.md that stop it, start it and tell it is ready."""

    name: str
    stop_command: tuple[str, ...]
    start_commands: tuple[tuple[str, ...], ...]
    ready_command: tuple[str, ...]
    stopped_command: tuple[str, ...] | None = None  # succeeds once it is fully down; None: stopping waits for it

    @contextmanager
    def down(self) -> Iterator[None]:
        """The service stopped for the duration of the block, then started again and awaited."""
        subprocess.run(self.stop_command, check=True, capture_output=True)
        try:
            self._wait_stopped()
            yield
        finally:
            self.restore()

    def restore(self) -> None:
        """Start the service unless it answers, and wait until it does."""
        if _succeeds(self.ready_command):
            return
        self._wait_stopped()  # starting it while it still shuts down would do nothing
        for command in self.start_commands:
            subprocess.run(command, check=True, capture_output=True)
        self._wait(self.ready_command, "ready")

    def _wait_stopped(self) -> None:
        if self.stopped_command:
            self._wait(self.stopped_command, "stopped")

    def _wait(self, command: tuple[str, ...], state: str, timeout: float = 90.0) -> None:
        wait_until(lambda: _succeeds(command), timeout, f"{self.name} is {state}", interval=0.5)


RABBITMQ = Service(
    "RabbitMQ",
    # stop_app stops the broker and keeps the Erlang node: the gentle way, and start_app is quick.
    stop_command=("rabbitmqctl", "-q", "stop_app"),
    start_commands=(("rabbitmqctl", "-q", "start_app"),),
    # await_startup fails at once while the node boots: _wait retries it.
    ready_command=("rabbitmqctl", "-q", "await_startup", "--timeout", "5"),
)
MARIADB = Service(
    "MariaDB",
    stop_command=("mysqladmin", "-h127.0.0.1", "-uroot", "shutdown"),
    start_commands=(("mkdir", "-p", "/run/mysqld"), ("chown", "mysql:mysql", "/run/mysqld"),
                    ("start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/mariadbd",
                     "--", "--user=mysql")),
    ready_command=("mysqladmin", "-h127.0.0.1", "-uroot", "ping"),
    stopped_command=("sh", "-c", "! start-stop-daemon --status --exec /usr/sbin/mariadbd"),
)


@pytest.fixture
def rabbitmq() -> Iterator[Service]:
    try:
        yield RABBITMQ
    finally:
        RABBITMQ.restore()


@pytest.fixture
def mariadb(db) -> Iterator[Service]:
    try:
        yield MARIADB
    finally:
        MARIADB.restore()
        ensure_connected(db)  # for the tests after this one

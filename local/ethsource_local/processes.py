"""Child processes of the local tooling and the tests: start one with its environment and log file, wait until a
condition says it is ready (failing loudly, with the tail of its log; `answers` is the usual probe), stop it
gracefully and kill it if it must."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

import httpx

from ethsource.serving import PROJECT_ROOT

LOG_TAIL_CHARS = 4000


class ProcessFailed(RuntimeError):
    """A child exited, or did not become ready in time; the message says which, with the tail of its log."""


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> object:
    """Poll `condition` until it is truthy and return its value; raise TimeoutError naming `what` when it is not
    within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting until {what}")
        time.sleep(interval)
    return result


class Process:
    """One child process, which can be started again once it has exited.

    Each runs in a process group of its own: a Ctrl-C meant for its parent does not reach it, so the parent stops
    its children in the order it chooses. A group, not a session: Linux's autogroup scheduling shares the CPU
    equally between sessions, which made the scanner's lower priority (`nice`) count for nothing against the API
    and gave a load generator started beside the system one share against each of its processes. Output goes to
    `log_path` (appended: a restart keeps the earlier runs' lines), or to the parent's own output without one.
    """

    def __init__(self, name: str, command: Sequence[str], *, env: Mapping[str, str] | None = None,
                 log_path: Path | None = None, stop_signal: int = signal.SIGTERM):
        self.name, self.command, self.log_path, self.stop_signal = name, list(command), log_path, stop_signal
        self.env = dict(os.environ if env is None else env)
        self._popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """None while it runs (or before it started), else how it exited (-N: killed by signal N)."""
        return None if self._popen is None else self._popen.poll()

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> Process:
        if self.running:
            raise RuntimeError(f"{self.name} is running already")
        # A file, not a pipe: nobody reads a pipe while the child runs, and a full one blocks its logging.
        with open(self.log_path, "a") if self.log_path else nullcontext() as log:
            self._popen = subprocess.Popen(self.command, env=self.env, cwd=PROJECT_ROOT, process_group=0,
                                           stdout=log, stderr=subprocess.STDOUT if log else None)
        return self

    def wait_ready(self, ready: Callable[[], object], timeout: float, what: str) -> None:
        """Wait until `ready()` is truthy; ProcessFailed if the process exits first or `timeout` passes."""
        def ready_or_exited() -> object:
            if not self.running:
                raise ProcessFailed(f"{self.name} exited with code {self.returncode} before {what}{self._tail()}")
            return ready()

        try:
            wait_until(ready_or_exited, timeout, what, interval=0.1)
        except TimeoutError as exc:
            raise ProcessFailed(f"{self.name}: {exc}{self._tail()}") from None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def signal(self, signum: int) -> None:
        if self.running:
            self._popen.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the exit; subprocess.TimeoutExpired when it does not come in time."""
        return self._popen.wait(timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        """Ask it to stop (its stop signal), kill it after `timeout` seconds; its exit code (None: never started)."""
        return stop_all([self], timeout)[self.name]

    def kill(self) -> None:
        """SIGKILL: no chance to finish, acknowledge or close anything."""
        self.signal(signal.SIGKILL)
        self._popen.wait()

    def _tail(self) -> str:
        text = self.log_text()
        return f"\n--- the end of {self.log_path} ---\n{text[-LOG_TAIL_CHARS:]}" if text else ""


def stop_all(processes: Iterable[Process], timeout: float = 30.0) -> dict[str, int | None]:
    """Stop these processes together: each gets its stop signal at once, and those still running after `timeout`
    seconds are killed. Their exit codes by name (None for one never started)."""
    processes = list(processes)
    for process in processes:
        process.signal(process.stop_signal)
    deadline = time.monotonic() + timeout
    for process in processes:
        if process._popen is None:
            continue
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    return {process.name: process.returncode for process in processes}


@contextmanager
def started(process: Process, ready: Callable[[], object], timeout: float, what: str,
            stop_timeout: float = 30.0) -> Iterator[Process]:
    """The process started and ready for the block, stopped after it (also when it never became ready)."""
    try:
        process.start().wait_ready(ready, timeout, what)
        yield process
    finally:
        process.stop(stop_timeout)


def answers(url: str) -> bool:
    """Whether `url` answers 200 now (a readiness probe: a refused connection or a timeout is a no)."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False

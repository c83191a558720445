"""Keeping the local system's processes running, as a function platform keeps its containers: one that exits is
started again after a back-off, each restart logged and counted; repeated crashes in a short time give up."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from .processes import Process

# The runner's own metrics (served on its port of the Layout, for `make observe`'s Prometheus): not the
# library's registry, which holds the functions' metrics and has nothing to say here.
REGISTRY = CollectorRegistry(auto_describe=True)
RESTARTS = Counter("ethsource_runner_restarts_total", "Processes of the local system started again after they exited",
                   ["process"], registry=REGISTRY)


class GaveUp(RuntimeError):
    """A process crashed more often than the policy allows in its window."""


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 5  # within window_s; the next crash gives up
    window_s: float = 60.0
    first_delay_s: float = 0.5  # doubled for each crash still within the window
    max_delay_s: float = 8.0

    def delay_s(self, recent_crashes: int) -> float:
        return min(self.max_delay_s, self.first_delay_s * 2 ** (recent_crashes - 1))


class Supervisor:
    """Call `check()` every fraction of a second: it notices the processes that exited and starts them again
    when their back-off is over. Raises GaveUp when one crashes more than `policy.max_restarts` times within
    `policy.window_s`."""

    def __init__(self, processes: Mapping[str, Process], policy: RestartPolicy = RestartPolicy(),
                 say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
                 clock: Callable[[], float] = time.monotonic):
        self.processes, self.policy, self.say, self.clock = processes, policy, say, clock
        self._crashes: dict[str, deque[float]] = {name: deque() for name in processes}
        self._restart_at: dict[str, float] = {}
        for name in processes:
            RESTARTS.labels(name)  # every process's series from the start, at 0

    def check(self) -> None:
        now = self.clock()
        for name, process in self.processes.items():
            if name in self._restart_at:
                if now >= self._restart_at[name]:
                    del self._restart_at[name]
                    process.start()
                    RESTARTS.labels(name).inc()
                    self.say(f"{name} restarted (pid {process.pid})")
            elif not process.running:
                self._crashed(name, process.returncode, now)

    def _crashed(self, name: str, code: int | None, now: float) -> None:
        crashes = self._crashes[name]
        crashes.append(now)
        while crashes[0] < now - self.policy.window_s:
            crashes.popleft()
        if len(crashes) > self.policy.max_restarts:
            raise GaveUp(f"{name} exited with code {code}, its {len(crashes)}th crash within "
                         f"{self.policy.window_s:g} s: giving up")
        delay = self.policy.delay_s(len(crashes))
        self._restart_at[name] = now + delay
        self.say(f"{name} exited with code {code}; restarting it in {delay:g} s "
                 f"(crash {len(crashes)} of {self.policy.max_restarts} allowed within {self.policy.window_s:g} s)")

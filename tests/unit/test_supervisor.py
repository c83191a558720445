"""The runner's supervision of its processes (ethsource_local.supervisor), on real child processes that crash at
once and a clock the test moves: back-off that grows within the window, a restart counted each time, and a loud
give-up after too many crashes in a short time."""

from __future__ import annotations

import sys

import pytest

from ethsource_local.processes import Process
from ethsource_local.supervisor import REGISTRY, GaveUp, RestartPolicy, Supervisor

POLICY = RestartPolicy(max_restarts=3, window_s=60, first_delay_s=1, max_delay_s=3)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def crashing(name: str) -> Process:
    """A process that exits with code 3 as soon as it starts; started, and awaited until it has exited."""
    process = Process(name, [sys.executable, "-c", "raise SystemExit(3)"]).start()
    process.wait(10)
    return process


def restarts(name: str) -> float:
    return REGISTRY.get_sample_value("ethsource_runner_restarts_total", {"process": name}) or 0.0


def test_a_crashing_process_is_restarted_after_a_growing_back_off_then_given_up_loudly():
    process, clock, said = crashing("crashes-often"), Clock(), []
    supervisor = Supervisor({"crashes-often": process}, POLICY, say=said.append, clock=clock)
    for crash, (restart_at, delay) in enumerate(((1, 1), (3, 2), (6, 3)), start=1):  # 1, 2, then 4 capped at 3
        supervisor.check()  # notices the exit
        assert said[-1] == (f"crashes-often exited with code 3; restarting it in {delay:g} s "
                            f"(crash {crash} of 3 allowed within 60 s)")
        clock.now = restart_at - 0.1
        supervisor.check()
        assert not process.running and restarts("crashes-often") == crash - 1  # not before its time
        clock.now = restart_at
        supervisor.check()
        assert said[-1] == f"crashes-often restarted (pid {process.pid})"
        process.wait(10)
    assert restarts("crashes-often") == 3
    with pytest.raises(GaveUp, match="crashes-often exited with code 3, its 4th crash within 60 s: giving up"):
        supervisor.check()


def test_crashes_further_apart_than_the_window_start_the_back_off_again():
    process, clock, said = crashing("crashes-seldom"), Clock(), []
    supervisor = Supervisor({"crashes-seldom": process}, POLICY, say=said.append, clock=clock)
    for crash in range(5):  # more than max_restarts in all, never two within 60 s
        clock.now = crash * 100.0
        supervisor.check()
        assert "restarting it in 1 s (crash 1 of 3" in said[-1]
        clock.now += 1
        supervisor.check()
        process.wait(10)
    assert restarts("crashes-seldom") == 5


def test_a_process_that_runs_is_left_alone():
    process = Process("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"]).start()
    try:
        Supervisor({"sleeper": process}, POLICY, say=pytest.fail).check()
        assert process.running and restarts("sleeper") == 0
    finally:
        process.stop()

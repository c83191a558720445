"""The budget's pacing of one key, with its leases in memory: how far apart the calls leave."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from ethsource.budget import LATE_S, WAKE_SLACK_S, Budget, Lease


class Clock:
    """time.monotonic, moved on by hand."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


class MemoryLeases:
    """Every key granted at once, for a second, free from the start; the database's clock is the test's."""

    def __init__(self, clock: Clock):
        self.clock = clock

    def acquire(self, budget, holder, key_ids, keep, more, give_back, lease_us, gap_us):
        now_us = int(self.clock() * 1e6)
        return now_us, [Lease(key, now_us + lease_us, 0) for key in key_ids[:len(keep) + more]]

    def release(self, budget, holder, key_ids, gap_us):
        pass


class FirstCallerLate(deque):
    """The budget's queue of callers, whose first caller leaves `late_s` after its turn (its event loop was busy):
    the clock moves on as that turn is handed out."""

    def __init__(self, clock: Clock, late_s: float):
        super().__init__()
        self.clock, self.late_s, self.handed_out = clock, late_s, 0

    def popleft(self):
        waiter = super().popleft()
        if waiter.done():  # a caller that gave up: dropped, not handed a turn
            return waiter
        self.handed_out += 1
        if self.handed_out > 1:
            return waiter
        clock, late_s = self.clock, self.late_s

        class Late:
            @staticmethod
            def set_result(value):
                clock.offset += late_s
                waiter.set_result(value)

        return Late


async def run_directly(function, *args):
    return function(*args)


def test_a_call_that_leaves_late_brings_the_next_turns_closer_by_no_more_than_the_slack():
    async def departures() -> tuple[list[float], float]:
        clock = Clock()
        budget = Budget("test", ("key",), 10.0, MemoryLeases(clock), run_directly, clock=clock)
        budget._waiters = FirstCallerLate(clock, late_s=LATE_S * 0.75)  # late, but not too late to leave
        budget.start()
        try:
            left = []
            for _ in range(3):
                await budget.take_turn()
                left.append(clock())
            return left, budget.interval
        finally:
            await budget.close()

    left, interval = asyncio.run(departures())
    gaps = [later - earlier for earlier, later in zip(left, left[1:], strict=False)]
    assert min(gaps) >= interval - WAKE_SLACK_S - 1e-9, (gaps, interval)
    assert left[-1] - left[0] >= 2 * interval - WAKE_SLACK_S - 1e-9  # the slack is not given twice

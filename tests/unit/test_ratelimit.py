"""The Etherscan budget's bookkeeping (its promise is checked against the fake in test_etherscan_at_scale)."""

from __future__ import annotations

import time

from ethsource.ratelimit import KeyBudget


def test_the_departure_log_holds_only_the_last_window():
    budget = KeyBudget(("k",), 1_000_000)
    for _ in range(2000):
        budget.acquire()
    time.sleep(1.1)
    budget.acquire()
    assert len(budget._departures["k"]) == 1  # not the 2001 of a log sized by the rate

"""The load generator's cap on its poll rate: over any second, no more polls than the cap."""

import importlib

import pytest

from ethsource.serving import PROJECT_ROOT


@pytest.fixture
def worker(monkeypatch):
    monkeypatch.syspath_prepend(str(PROJECT_ROOT))  # the load scripts run from the checkout; they are not installed
    return importlib.import_module("load.worker")


def polls_sent(worker, due: list[float], cap: float, wake_late_s: float = 0.0) -> list[float]:
    """When the worker's loop sends each due poll under the cap (it wakes `wake_late_s` after each slot)."""
    sent, slot, now = [], 0.0, 0.0
    for due_at in sorted(due):
        now = max(now, due_at, slot + wake_late_s)
        sent.append(now)
        slot = worker.next_poll_slot(slot, 1 / cap, now)
    return sent


def most_in_a_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1) for start in times)


def test_polls_first_due_a_second_in_do_not_go_at_twice_the_cap(worker):
    # 2 000 submissions/s for a second; each is first polled a second later, capped at 1 000 polls/s
    due = [1 + n / 2000 for n in range(2000)]
    sent = polls_sent(worker, due, cap=1000)
    assert most_in_a_second(sent) <= 1000 * (1 + worker.POLL_CATCH_UP_S) + 2  # give or take a slot at either edge


def test_a_late_loop_catches_up_a_little_and_keeps_the_rate(worker):
    due = [1 + n / 1000 for n in range(3000)]  # as fast as the cap
    sent = polls_sent(worker, due, cap=1000, wake_late_s=0.004)
    assert most_in_a_second(sent) <= 1000 * (1 + worker.POLL_CATCH_UP_S) + 2  # give or take a slot at either edge
    assert sent[-1] < due[-1] + 0.5  # the polls keep up with what is due

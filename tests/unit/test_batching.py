"""MicroBatcher: concurrent callers share a batch and each hears its own result; a batch waits for company only
when company is likely, so a caller alone never waits."""

from __future__ import annotations

import asyncio
import time

import pytest

from ethsource.batching import MicroBatcher


async def inline(function, *args):
    return function(*args)


class Recorder:
    def __init__(self):
        self.batches: list[list[int]] = []

    def __call__(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(items)
        return [ValueError(f"odd {item}") if item % 2 else item * 10 for item in items]


def test_concurrent_callers_share_a_batch_and_each_hears_its_own_outcome():
    async def scenario():
        recorder = Recorder()
        batcher = MicroBatcher(recorder, inline)
        outcomes = await asyncio.gather(*(batcher(n) for n in (2, 3, 4)), return_exceptions=True)
        return recorder.batches, outcomes

    batches, outcomes = asyncio.run(scenario())
    assert batches == [[2, 3, 4]]
    assert outcomes[0] == 20 and outcomes[2] == 40 and str(outcomes[1]) == "odd 3"


def test_a_batch_that_fails_whole_fails_every_caller_and_the_next_batch_runs():
    calls = []

    def failing_once(items):
        calls.append(items)
        if len(calls) == 1:
            raise ConnectionError("broker down")
        return items

    async def scenario():
        batcher = MicroBatcher(failing_once, inline)
        failed = await asyncio.gather(batcher(1), batcher(2), return_exceptions=True)
        return failed, await batcher(3)

    failed, later = asyncio.run(scenario())
    assert [type(outcome) for outcome in failed] == [ConnectionError, ConnectionError] and later == 3


def test_batches_are_at_most_max_size():
    async def scenario():
        recorder = Recorder()
        batcher = MicroBatcher(recorder, inline, max_size=2)
        await asyncio.gather(*(batcher(n) for n in (2, 4, 6, 8, 10)))
        return recorder.batches

    assert asyncio.run(scenario()) == [[2, 4], [6, 8], [10]]


async def arriving(batcher, items_at: list[tuple[float, int]]):
    async def later(delay, item):
        await asyncio.sleep(delay)
        return await batcher(item)

    return await asyncio.gather(*(later(delay, item) for delay, item in items_at))


@pytest.mark.parametrize("gather_s, batches", [(0.0, [[2, 4], [6]]), (0.2, [[2, 4, 6]])])
def test_with_company_likely_a_batch_waits_for_those_about_to_arrive(gather_s, batches):
    async def scenario():
        recorder = Recorder()
        await arriving(MicroBatcher(recorder, inline, gather_s=gather_s), [(0, 2), (0, 4), (0.05, 6)])
        return recorder.batches

    assert asyncio.run(scenario()) == batches


def test_a_caller_alone_does_not_wait_for_company():
    async def scenario():
        recorder = Recorder()
        batcher = MicroBatcher(recorder, inline, gather_s=5.0)
        started = time.monotonic()
        for item in (2, 4, 6):  # one after another, as the requests of a Lambda invocation
            await batcher(item)
        return recorder.batches, time.monotonic() - started

    batches, took = asyncio.run(scenario())
    assert batches == [[2], [4], [6]] and took < 1.0


def test_items_that_keep_coming_at_their_pace_are_gathered_for_the_whole_gather():
    async def scenario():
        recorder = Recorder()
        together = [(0, 0), (0, 2)]  # two at once: company is likely
        paced = [(0.02 * n, 2 * n) for n in range(2, 12)]
        await arriving(MicroBatcher(recorder, inline, gather_s=0.3), together + paced)
        return recorder.batches

    assert asyncio.run(scenario()) == [[2 * n for n in range(12)]]


def test_callers_that_each_wait_for_their_answer_are_not_held_for_the_whole_gather():
    async def scenario():
        recorder = Recorder()
        batcher = MicroBatcher(recorder, inline, gather_s=0.2)

        async def caller(n):
            for _ in range(20):  # the next request once the last is answered: they arrive together, then stop
                await batcher(2 * n)

        started = time.monotonic()
        await asyncio.gather(*(caller(n) for n in range(8)))
        return recorder.batches, time.monotonic() - started

    batches, took = asyncio.run(scenario())
    assert max(map(len, batches)) == 8 and took < 1.0  # 20 rounds of the whole gather would take 4 s


def test_without_leaving_when_quiet_a_batch_waits_the_whole_gather():
    async def scenario():
        recorder = Recorder()
        batcher = MicroBatcher(recorder, inline, gather_s=0.1, leave_when_quiet=False)

        async def caller(n):
            for _ in range(3):  # the callers of the test above, which leave once quiet
                await batcher(2 * n)

        started = time.monotonic()
        await asyncio.gather(*(caller(n) for n in range(8)))
        return recorder.batches, time.monotonic() - started

    batches, took = asyncio.run(scenario())
    assert batches == [[0, 2, 4, 6, 8, 10, 12, 14]] * 3 and took >= 0.3

"""The chains accepted at submission: every configured provider's, read from memory, refreshed off the request path."""

from __future__ import annotations

import httpx
import pytest

from ethsource.chains import (
    ETHERSCAN_CHAINS,
    REFRESH_S,
    RETRY_S,
    ChainList,
    ChainRegistry,
    etherscan_chains,
    sourcify_chains,
)
from ethsource_local.fake_etherscan import FakeConfig, explorer_urls, running


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Deferred:
    """Runs the spawned refreshes when the test says so, as the thread would some time after the check."""

    def __init__(self):
        self.pending = []

    def __call__(self, work) -> None:
        self.pending.append(work)

    def run(self) -> None:
        pending, self.pending = self.pending, []
        for work in pending:
            work()


class ScriptedList:
    """A provider's list endpoint: each fetch returns the next of `answers`, or raises it."""

    def __init__(self, *answers):
        self.answers, self.fetches = list(answers), 0

    def __call__(self) -> frozenset[int]:
        self.fetches += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return frozenset(answer)


def registry(*lists: ChainList) -> tuple[ChainRegistry, Clock, Deferred]:
    clock, spawn = Clock(), Deferred()
    return ChainRegistry(lists, clock=clock, spawn=spawn), clock, spawn


def test_a_chain_any_provider_serves_is_accepted_and_no_other():
    chains, _, spawn = registry(ChainList("etherscan", frozenset({1, 10})), ChainList("blockscout", frozenset({61})))
    assert 1 in chains and 61 in chains
    assert 777 not in chains
    assert spawn.pending == []  # fixed lists: nothing to fetch


def test_the_first_check_answers_from_the_fallback_and_fetches_off_the_request_path():
    etherscan = ScriptedList({1, 560048})
    chains, _, spawn = registry(ChainList("etherscan", frozenset(ETHERSCAN_CHAINS), etherscan))
    assert 560048 not in chains and 56 in chains  # answered at once, from the built-in list
    assert etherscan.fetches == 0 and len(spawn.pending) == 1
    spawn.run()
    assert 560048 in chains and 56 not in chains  # the fetched list replaces the fallback


def test_refreshed_before_serving_the_first_check_answers_from_the_fetched_lists_and_fetches_nothing():
    etherscan = ScriptedList({1, 31337})
    chains, _, spawn = registry(ChainList("etherscan", frozenset(ETHERSCAN_CHAINS), etherscan))
    chains.refresh()
    assert 31337 in chains and etherscan.fetches == 1 and spawn.pending == []


def test_one_refresh_at_a_time_and_the_next_only_after_the_interval():
    sourcify = ScriptedList({1}, {1, 5})
    chains, clock, spawn = registry(ChainList("sourcify", frozenset(), sourcify))
    for _ in range(3):
        assert 5 not in chains
    assert len(spawn.pending) == 1
    spawn.run()
    clock.now = REFRESH_S - 1
    assert 5 not in chains and spawn.pending == []
    clock.now = REFRESH_S
    assert 5 not in chains
    spawn.run()
    assert 5 in chains and sourcify.fetches == 2


def test_a_failed_fetch_keeps_the_last_good_list_and_is_tried_again_sooner():
    sourcify = ScriptedList({1, 5}, OSError("unreachable"), {1, 5, 7})
    chains, clock, spawn = registry(ChainList("sourcify", frozenset(), sourcify))
    assert 5 not in chains
    spawn.run()
    clock.now = REFRESH_S
    assert 5 in chains
    spawn.run()  # fails
    assert 5 in chains
    clock.now = REFRESH_S + RETRY_S
    assert 7 not in chains
    spawn.run()
    assert 7 in chains


def test_one_providers_failure_leaves_the_others_lists():
    chains, _, spawn = registry(ChainList("etherscan", frozenset({1}), ScriptedList(OSError("down"))),
                                ChainList("sourcify", frozenset(), ScriptedList({1, 5})))
    assert 5 not in chains
    spawn.run()
    assert 1 in chains and 5 in chains


@pytest.fixture(scope="module")
def fake_urls():
    with running(FakeConfig(supported_chains=frozenset({1, 10, 8453}))) as url:
        yield explorer_urls(url)


def test_etherscans_chainlist_is_read_from_beside_its_api(fake_urls):
    assert etherscan_chains(fake_urls["ETHERSCAN_API_URL"]) == {1, 10, 8453}


def test_sourcifys_chains_are_read_from_its_server(fake_urls):
    assert sourcify_chains(fake_urls["SOURCIFY_API_URL"]) == {1, 10, 8453}


def test_a_chain_list_that_cannot_be_read_raises_for_the_registry_to_keep_its_last():
    with running(FakeConfig(error_rate=1.0)) as url:  # every answer a 502 HTML page
        with pytest.raises(httpx.HTTPStatusError):
            etherscan_chains(url)
        with pytest.raises(httpx.HTTPStatusError):
            sourcify_chains(explorer_urls(url)["SOURCIFY_API_URL"])
    with pytest.raises(httpx.TransportError):  # the fake is gone
        etherscan_chains(url)

"""`ethsource serve`, as the image and `make run` run a function: a real uvicorn on a port."""

from __future__ import annotations

import http.client

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ethsource_local.fake_etherscan import FakeConfig, explorer_urls, running, stats
from tests.conftest import serving

UNKNOWN = "0x" + "0" * 40


def status_requests_counted(url: str) -> float:
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
    return sum(sample.value for family in families for sample in family.samples
               if sample.name == "ethsource_http_requests_total" and sample.labels["route"] == "/contracts/{address}")


def test_with_two_processes_metrics_count_the_requests_of_both(service_env, db):
    with serving("status", {**service_env, "WEB_CONCURRENCY": "2"}) as port:
        url = f"http://127.0.0.1:{port}"
        for _ in range(40):  # a connection each, so both processes take some
            assert httpx.get(f"{url}/contracts/{UNKNOWN}").status_code == 404
        # Whichever process answers the scrape, it reports the requests of both (and not the scrapes).
        assert [status_requests_counted(url) for _ in range(8)] == [40.0] * 8


def test_an_unexpected_error_is_a_500_that_keeps_the_connection(service_env):
    # The gateway reuses its connections to a function: a connection closed after an error would reset the
    # next request sent on it (a 503 for an unrelated caller).
    with serving("submit", {**service_env, "CHAOS_ENDPOINTS": "true"}) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        answers = []
        for _ in range(12):
            connection.request("POST", "/_chaos/error")
            answer = connection.getresponse()
            answer.read()
            answers.append(answer.status)
        connection.close()
    assert set(answers) == {500, 503}


def test_a_process_fetches_its_chain_lists_before_it_takes_a_request(service_env, db):
    # Fetched by the first request instead (on a thread, importing httpx's transport beside the first requests'
    # work), a process started into a peak answered slowly at first, and a chain only the fetched list names was
    # refused until the fetch came back.
    only_listed = 204  # opBNB: on the fake explorers' lists, not in Etherscan's built-in fallback
    with running(FakeConfig(supported_chains=frozenset({1, only_listed}))) as fake:
        with serving("status", {**service_env, **explorer_urls(fake, chain_ids=[1])}) as port:
            assert stats(fake)["chain_lists"]["calls"] >= 1
            answer = httpx.get(f"http://127.0.0.1:{port}/contracts/{UNKNOWN}?chain_id={only_listed}")
            assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")

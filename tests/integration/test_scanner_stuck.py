"""A scanner that is alive but settles nothing is seen: the oldest wait grows on, whatever sweep does."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import closing, contextmanager

import pymysql
import pytest

from ethsource import lookup, services
from ethsource.db import connect_args, migrate
from tests.conftest import serving, wait_until
from tests.scanning import fresh, metric, own_queue

SWEEP_AFTER_S = 10  # over SCAN_LEASE: sweep takes each hung contract back every 10 s or so
PAST_S = 60  # the age to see passed; counted from updated_at, as it was, it topped out near SWEEP_AFTER


@contextmanager
def database_of_its_own(service_env) -> Iterator[str]:
    """The oldest wait is over the whole contracts table: other tests' rows, stuck on purpose, stay out of it."""
    url = f"{service_env['DATABASE_URL']}_stuck"
    migrate(url)
    try:
        yield url
    finally:
        connection = pymysql.connect(**connect_args(url, with_database=False))
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]}")
        connection.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_oldest_wait_grows_past_sweep_while_etherscan_never_answers(service_env):
    addresses = fresh("solidity_single", 3)
    # An explorer that never answers: a socket that listens and accepts nothing. Calls connect, then wait for
    # ETHERSCAN_TIMEOUT; closing it resets them, so the scanner can stop at the end.
    with closing(socket.socket()) as explorer, database_of_its_own(service_env) as database:
        explorer.bind(("127.0.0.1", 0))
        explorer.listen(512)
        api_url = f"http://127.0.0.1:{explorer.getsockname()[1]}/v2/api"
        with own_queue(service_env, api_url, DATABASE_URL=database, ETHERSCAN_API_KEYS="stuck-test-key",
                       SOURCE_PROVIDERS="etherscan", ETHERSCAN_TIMEOUT="600", SCAN_LEASE="4",
                       SWEEP_AFTER=str(SWEEP_AFTER_S)) as (env, scan), \
                serving("sweep", {**env, "SWEEP_INTERVAL": "2"}) as sweep_port, \
                serving("scan", {**env, "SCAN_CONSUMER": "true"}) as scan.port:
            scan.submit(addresses)
            ages = []

            def age_past() -> bool:
                ages.append(scan.metric("ethsource_queue_oldest_message_age_seconds", queue=scan.topology.queue))
                return ages[-1] > PAST_S

            wait_until(age_past, PAST_S + 30, f"the oldest wait passes {PAST_S} s", interval=5)
            swept = metric(sweep_port, "ethsource_swept_contracts_total")
            settled = [contract.status for contract in lookup.get_many(services.services().store,
                                                                       [(1, a) for a in addresses])]
            explorer.close()
    assert ages == sorted(ages), ages  # never set back, by sweeps or retries
    assert swept >= 2 * len(addresses)  # sweep took each back more than once: updated_at was rewritten
    assert set(settled) <= {"CREATED", "PROCESS"}  # and nothing settled

"""The scan worker's prefetch: messages in hand follow the budget this process holds."""

from dataclasses import dataclass

import pytest

from ethsource.queue import Topology
from ethsource.worker import ScanWorker


@dataclass
class Holding:
    calls_per_second: float


@pytest.mark.parametrize("calls_per_second, prefetch", [
    (0.0, 1),  # no key: one contract, to ask for one
    (4.9, 10),  # one key at 5/s: two seconds of calls
    (294.0, 256),  # ten keys at 30/s: no more than twice SCAN_CONCURRENCY
])
def test_a_scanner_takes_what_its_keys_can_send_soon(calls_per_second, prefetch):
    worker = ScanWorker(Holding(calls_per_second), "amqp://unused", Topology("q"), concurrency=128)
    assert worker.prefetch() == prefetch

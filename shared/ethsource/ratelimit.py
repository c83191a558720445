"""The Etherscan budget: each API key may make `rate` calls per second; the keys are used together."""

from __future__ import annotations

import threading
import time
from collections import deque

from .observability import RATE_LIMIT_WAIT_SECONDS, RATE_LIMIT_WAITS

# Calls leave a little slower than the plan allows: the network can bunch two calls together on the way, and
# Etherscan counts arrivals, not departures.
SAFETY_MARGIN = 0.97


class KeyBudget:
    """Hands out keys so that no key exceeds its rate, however many threads call at once.

    Each key has a next free slot: a caller takes the key whose slot comes first, moves that slot one interval
    on, and sleeps until its own slot, so calls are spaced evenly rather than sent in bursts. A thread can wake
    late and bunch up with the next one, so the promise itself is checked against the real departures: no key
    ever has more than `rate` of them within one (stretched) second.
    """

    def __init__(self, keys: tuple[str, ...], rate: float):
        self._interval = 1.0 / (rate * SAFETY_MARGIN)
        self._window = 1.0 / SAFETY_MARGIN
        self._next_slot = dict.fromkeys(keys or ("",), 0.0)
        self._max_departures = max(1, int(rate))  # in any one window
        self._departures = {key: deque() for key in self._next_slot}  # the last window's, oldest first
        self._lock = threading.Lock()

    @property
    def calls_per_second(self) -> float:
        return len(self._next_slot) / self._interval

    def acquire(self) -> str:
        """Wait until a key may make a call now, and return it."""
        started = time.monotonic()
        with self._lock:
            key = min(self._next_slot, key=self._next_slot.__getitem__)
            slot = max(started, self._next_slot[key])
            self._next_slot[key] = slot + self._interval
        time.sleep(max(0.0, slot - started))
        departures = self._departures[key]
        while True:
            with self._lock:
                now = time.monotonic()
                # Only the last window counts: a log of `rate` entries would hold a million floats per key
                # under a limit set out of the way (ETHERSCAN_RATE_LIMIT=1000000 against the fake).
                while departures and departures[0] <= now - self._window:
                    departures.popleft()
                full = len(departures) >= self._max_departures
                wait = departures[0] + self._window - now if full else 0.0
                if wait <= 0:
                    departures.append(now)
                    break
            time.sleep(wait)
        if (waited := now - started) > 0.001:
            RATE_LIMIT_WAITS.inc()
            RATE_LIMIT_WAIT_SECONDS.inc(waited)
        return key

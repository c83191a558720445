"""The shared budget's leases in the real MariaDB: holders racing for the same keys each get an answer, never a
deadlock (the rows are locked exclusively, in one order), and no key is leased to two holders at once."""

from __future__ import annotations

import os
import threading

from ethsource.budget import LeaseStore
from ethsource.db import Database

KEYS = [f"race-key-{n}" for n in range(4)]
HOLDERS = 4
ROUNDS = 60
LEASE_US, GAP_US = 1_000_000, 100_000


def test_holders_racing_for_one_budgets_keys_never_deadlock_nor_share_a_key(service_env, db):
    budget = f"race-{os.urandom(4).hex()}"
    failures: list[BaseException] = []
    held_at: list[tuple[int, bytes, list[str], list[str]]] = []
    start = threading.Barrier(HOLDERS)

    def hold(number: int) -> None:
        leases = LeaseStore(Database(service_env["DATABASE_URL"], max_connections=1))
        holder = os.urandom(16)
        keep: list[str] = []
        start.wait()
        try:
            for round_ in range(ROUNDS):
                # Renew what is held, ask for one more, and now and then give everything back.
                give_back = keep if round_ % 5 == 4 else []
                now, leases_held = leases.acquire(budget, holder, KEYS, [k for k in keep if k not in give_back],
                                                  1, give_back, LEASE_US, GAP_US)
                keep = [lease.key_id for lease in leases_held]
                held_at.append((now, holder, give_back, keep))
        except BaseException as exc:  # noqa: BLE001 - a failed acquire is what the test looks for
            failures.append(exc)

    threads = [threading.Thread(target=hold, args=(n,)) for n in range(HOLDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    # Each acquire ran with the keys' rows locked: in the order of the database's clock, a key is never held by
    # two holders whose leases overlap (a lease ends when given back, else when it runs out).
    owner: dict[str, tuple[bytes, int]] = {}
    for now, holder, given_back, keys in sorted(held_at, key=lambda entry: entry[0]):
        for key in given_back:
            owner[key] = (holder, now)
        for key in keys:
            previous = owner.get(key)
            assert previous is None or previous[0] == holder or previous[1] <= now
            owner[key] = (holder, now + LEASE_US)
    with db.cursor() as cursor:
        cursor.execute("DELETE FROM rate_budget_keys WHERE budget = %s", (budget,))

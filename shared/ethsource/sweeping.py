"""The sweep use case: queue again the contracts whose scan message was lost.

Every accepted submission has a message, so a contract left in CREATED or PROCESS means its message was lost
(purged, or lost by the broker) or its scanner vanished in a way the broker did not see. But a contract in a
backlog also waits, with its message still coming: so the sweep runs only when no message waits in the scan
queue or its delay queues, and takes only contracts untouched for SWEEP_AFTER (longer than SCAN_LEASE, so no
running scan loses its contract). A scanner holds a bounded number of messages ahead (see ethsource.worker),
which it starts within seconds to minutes, well within SWEEP_AFTER. Queuing a contract twice is harmless
anyway: the scan's claim lets one copy through and skips the other.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from .metrics import SWEPT
from .models import ScanItem
from .observability import REQUEST_ID, batch_span, request_id_from
from .queue import Outgoing, Publisher
from .store import ContractStore, Key

log = logging.getLogger(__name__)


def sweep(store: ContractStore, publisher: Publisher, messages_waiting: Callable[[], int], *,
          older_than_s: float, limit: int = 1000) -> int:
    """How many contracts were queued again.

    A round has an id (its request's, when a scheduler's POST started it): on its log lines, and in the messages
    it queues, so the scans of the contracts it took back log it too; and a span, skipped or not.
    """
    token = REQUEST_ID.set(round_id := REQUEST_ID.get() or request_id_from())
    try:
        with batch_span("sweep round", []):
            if waiting := messages_waiting():
                log.info("sweep skipped: messages still wait in the scan queues", extra={"messages": waiting})
                return 0

            def publish(keys: list[Key]) -> None:
                publisher.publish([Outgoing([ScanItem(chain_id=chain_id, address=address, request_id=round_id)
                                             for chain_id, address in keys])])

            requeued = store.requeue_stuck(older_than_s, limit, os.urandom(16), publish)
            for chain_id, address in requeued:
                log.warning("re-queued a stuck contract", extra={"chain_id": chain_id, "address": address})
            SWEPT.inc(len(requeued))
            return len(requeued)
    finally:
        REQUEST_ID.reset(token)

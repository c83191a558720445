"""The scan worker: the RabbitMQ consumer feeding the scanner on the scan function's event loop, while it serves.

A message is acked only once every contract in it is settled (its outcome committed, or deferred to a delay
queue); a message whose settling fails goes back to the queue after a pause. How many messages the broker sends
ahead follows their size and the budget this process holds: the contracts its keys can send in IN_HAND_S (at
most twice SCAN_CONCURRENCY), so a scanner keeps busy on small messages and does not sit on large ones, and one
without a key takes only a few: the queue's work goes to the instances that can call (a fleet of six on two keys
used 89 % of their budget when each took its share of the queue and waited for a key to scan it).
"""

from __future__ import annotations

import asyncio
import logging
import math

from .metrics import SCANS
from .models import PoisonMessage, ScanMessage
from .observability import REQUEST_ID
from .queue import Consumer, Delivery, Disposition, Topology
from .scanning import Scanner, ScanOutcome

log = logging.getLogger(__name__)

REQUEUE_PAUSE_S = 1.0  # after a failure (a dependency down), before the message goes back: no hot loop
MAX_PREFETCH = 1000
IN_HAND_S = 2.0
MIN_IN_HAND = 1  # contract: a scanner without a key holds one to ask for a key, and starts at once when given one


class ScanWorker:
    def __init__(self, scanner: Scanner, rabbitmq_url: str, topology: Topology, concurrency: int):
        self._scanner, self._url, self._topology = scanner, rabbitmq_url, topology
        self._in_hand_target = 2 * concurrency
        self._average_size = 1.0  # contracts per message, a moving average
        self._tasks: set[asyncio.Task] = set()
        self._outcomes: list[tuple[Delivery, Disposition]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consumer: Consumer | None = None

    @property
    def connected(self) -> bool:
        return self._consumer is not None and self._consumer.connected.is_set()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._consumer = Consumer(self._url, self._topology, self._from_consumer_thread, self.prefetch)
        self._consumer.start()

    async def stop(self, timeout_s: float = 20.0) -> None:
        """Take no new messages, let the ones in hand finish (their acks are sent), then close."""
        self._consumer.stop_taking()
        if self._tasks:
            _, unfinished = await asyncio.wait(self._tasks, timeout=timeout_s)
            for task in unfinished:  # they go back to the queue with the connection
                task.cancel()
        self._flush()
        await asyncio.to_thread(self._consumer.stop)

    def prefetch(self) -> int:
        """Messages the broker is to send ahead now: the contracts the budget held sends in IN_HAND_S."""
        in_hand = min(self._in_hand_target, max(MIN_IN_HAND, self._scanner.calls_per_second * IN_HAND_S))
        return max(1, min(MAX_PREFETCH, math.ceil(in_hand / self._average_size)))

    def _from_consumer_thread(self, delivery: Delivery) -> None:
        self._loop.call_soon_threadsafe(self._accept, delivery)

    def _accept(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._handle(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, delivery: Delivery) -> None:
        # The lines about the whole message carry its id (the contracts' own carry the ids of their requests).
        REQUEST_ID.set(delivery.message_id)  # the task's own context: nothing to reset
        try:
            message = ScanMessage.from_body(delivery.body)
        except PoisonMessage as exc:
            log.error("dead-lettering a poison message", extra={"error_code": exc.code, "reason": exc.message})
            SCANS.labels(ScanOutcome.POISON).inc()
            return self._settle(delivery, Disposition.DEAD_LETTER)
        self._average_size += (len(message.contracts) - self._average_size) / 8
        try:
            await self._scanner.scan(message.contracts)
            disposition = Disposition.ACK
        except Exception:
            log.exception("settling a message failed; it will be delivered again")
            await asyncio.sleep(REQUEUE_PAUSE_S)
            disposition = Disposition.REQUEUE
        self._settle(delivery, disposition)

    def _settle(self, delivery: Delivery, disposition: Disposition) -> None:
        """Settlements of one loop turn go to the consumer thread together."""
        if not self._outcomes:
            self._loop.call_soon(self._flush)
        self._outcomes.append((delivery, disposition))

    def _flush(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        self._consumer.settle(outcomes)

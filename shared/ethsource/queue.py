"""RabbitMQ through pika: the durable scan queues, committed persistent publishes, and a consumer thread.

Topology: the work queue `<q>`; its dead-letter queue `<q>.dead` for poison messages; and delay queues, one per
retry `<q>.retry.<n>` and one for rechecks `<q>.recheck`, whose messages expire (per-message TTL, so each can
carry its own delay and jitter) and are then dead-lettered back to the work queue. A retry waits in RabbitMQ,
not in a scanner.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError, ConnectionBlockedTimeout

from .errors import Unavailable
from .models import ScanItem, ScanMessage
from .observability import published

log = logging.getLogger(__name__)

# Contracts per message: a message is scanned by one scanner as a unit, and acked when all of it is settled.
MESSAGE_MAX_CONTRACTS = 100
# How long a publisher waits while the broker blocks it (a memory or disk alarm: RabbitMQ stops reading what is
# published) before the publish is Unavailable. As the database's bound (db.STATEMENT_TIMEOUT_S): submit's batches
# wait on the event loop, and a broker that stalls without blocking still holds them until TCP gives up.
BLOCKED_TIMEOUT_S = 5


class Disposition(Enum):
    ACK = "ack"  # settled (success, recorded failure, deferred, or nothing to do)
    DEAD_LETTER = "dead_letter"  # can never be processed: park it in the dead-letter queue
    REQUEUE = "requeue"  # could not be settled now (e.g. database down): deliver again later


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dead"


@dataclass(frozen=True)
class Topology:
    queue: str
    retries: int = 0  # how many delay queues (one per retry)

    @classmethod
    def from_settings(cls, settings) -> Topology:
        return cls(settings.scan_queue, settings.scan_max_attempts - 1)

    @property
    def dead_letter_queue(self) -> str:
        return dead_letter_queue(self.queue)

    def retry_queue(self, retry: int) -> str:
        return f"{self.queue}.retry.{retry}"

    @property
    def recheck_queue(self) -> str:
        """Where a scan waits that cannot run now: its contract is held by another scan, or no budget was given."""
        return f"{self.queue}.recheck"

    @property
    def delay_queues(self) -> list[str]:
        return [*(self.retry_queue(n) for n in range(1, self.retries + 1)), self.recheck_queue]

    @property
    def all_queues(self) -> list[str]:
        return [self.queue, self.dead_letter_queue, *self.delay_queues]

    def declare(self, channel: BlockingChannel) -> None:
        """Every queue, durable; declaring is idempotent."""
        channel.queue_declare(self.dead_letter_queue, durable=True)
        channel.queue_declare(self.queue, durable=True, arguments={
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.dead_letter_queue})
        for delay_queue in self.delay_queues:
            channel.queue_declare(delay_queue, durable=True, arguments={
                "x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.queue})


def connect(url: str, *, heartbeat: bool = True) -> pika.BlockingConnection:
    params = pika.URLParameters(url)
    if not heartbeat:
        # A blocking connection answers heartbeats only while it is used: an idle publisher would be closed by
        # the broker after a few minutes. Without heartbeats, a dead connection shows at the next publish, which
        # reconnects once (Publisher._commit).
        params.heartbeat = 0
    params.connection_attempts = 1
    params.socket_timeout = 5
    params.blocked_connection_timeout = BLOCKED_TIMEOUT_S
    try:
        return pika.BlockingConnection(params)
    except AMQPError as exc:
        raise Unavailable(f"message broker unreachable ({type(exc).__name__})") from None


@dataclass(frozen=True)
class Outgoing:
    """A scan message on its way: where it goes and after how long it comes back to work (a delay queue)."""

    items: Sequence[ScanItem]
    queue: str | None = None  # None: the work queue
    delay_s: float = 0.0


class Publisher:
    """One transactional channel per process, behind a lock: a pika connection is not thread-safe.

    A transaction (tx.select / tx.commit) rather than publisher confirms: pika's blocking channel waits for
    each confirm in turn, while one commit covers a whole batch. RabbitMQ answers commit-ok only once the
    persistent messages are in their durable queue, the same promise a confirm makes.
    """

    def __init__(self, url: str, topology: Topology):
        self._url, self.topology = url, topology
        self._lock = threading.Lock()
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def publish(self, outgoing: Sequence[Outgoing]) -> None:
        """Every message in one broker commit; returns once the broker has them, Unavailable otherwise.

        A group of more than MESSAGE_MAX_CONTRACTS contracts goes as several messages.
        """
        batch = []
        for group in outgoing:
            queue = group.queue or self.topology.queue
            expiration = str(max(int(group.delay_s * 1000), 0)) if group.queue else None
            items = [item.model_copy(update={"traceparent": published(item.traceparent, queue)})
                     if item.traceparent else item for item in group.items]
            for start in range(0, len(items), MESSAGE_MAX_CONTRACTS):
                message = ScanMessage(contracts=tuple(items[start:start + MESSAGE_MAX_CONTRACTS]))
                batch.append((queue, message.to_body(), _properties({}, expiration)))
        if batch:
            self._commit(batch)

    def publish_raw(self, queue: str, body: bytes) -> None:
        """A message as it is (a test's, or one to park): persistent, committed."""
        self._commit([(queue, body, _properties({}))])

    def _commit(self, batch: list[tuple[str, bytes, pika.BasicProperties]]) -> None:
        with self._lock:
            for attempt in (1, 2):  # one reconnect covers a broker restart between requests
                try:
                    channel = self._ensure_channel()
                    for queue, body, properties in batch:
                        channel.basic_publish("", queue, body, properties)
                    channel.tx_commit()
                    return
                except (AMQPError, Unavailable) as exc:
                    # Uncommitted messages die with the channel; a commit whose answer was lost may leave a
                    # duplicate, which the scan's claim makes harmless. A blocked broker would block a new
                    # connection too: no second wait.
                    self._close()
                    if attempt == 2 or isinstance(exc, ConnectionBlockedTimeout):
                        reason = type(exc).__name__
                        raise Unavailable(f"message broker did not take the messages ({reason})") from None

    def _ensure_channel(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self._close()
            self._connection = connect(self._url, heartbeat=False)
            self._channel = self._connection.channel()
            self.topology.declare(self._channel)
            self._channel.tx_select()
        return self._channel

    def ping(self) -> None:
        with self._lock:
            try:
                self._ensure_channel()
                self._connection.process_data_events(0)
            except AMQPError as exc:
                self._close()
                raise Unavailable(f"message broker unreachable ({type(exc).__name__})") from None

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except AMQPError:
                pass


def _properties(headers: dict, expiration: str | None = None) -> pika.BasicProperties:
    return pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json",
                                headers=headers, expiration=expiration, message_id=os.urandom(8).hex())


def queue_stats(url: str, queues: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(messages ready, consumers) of each queue, by passive declares on a short-lived connection."""
    connection = connect(url)
    try:
        channel = connection.channel()
        stats = {}
        for queue in queues:
            frame = channel.queue_declare(queue, passive=True)
            stats[queue] = (frame.method.message_count, frame.method.consumer_count)
        return stats
    finally:
        connection.close()


@dataclass(frozen=True)
class Delivery:
    tag: int
    body: bytes
    headers: dict
    message_id: str | None


def _far_apart(wanted: int, prefetch: int) -> bool:
    """Whether a new prefetch is worth a new consumer: half or twice the current one."""
    return wanted * 2 <= prefetch or wanted >= prefetch * 2


class Consumer:
    """Consumes the work queue on a thread of its own and hands each message to `deliver` (on the caller's side,
    e.g. an asyncio loop's `call_soon_threadsafe`); `settle` sends the outcome back to the broker.

    pika allows a connection only on its own thread: settling is queued to it with `add_callback_threadsafe`.
    Unsettled messages go back to the queue when the connection closes, so nothing taken is lost. How many
    messages the broker sends ahead (`prefetch`) is asked of the caller: it follows how many contracts a message
    holds, so a scanner takes enough small messages to keep busy and not too many large ones.
    """

    def __init__(self, url: str, topology: Topology, deliver: Callable[[Delivery], None],
                 prefetch: Callable[[], int]):
        self._url, self._topology, self._deliver, self._prefetch = url, topology, deliver, prefetch
        self._taking, self._stopping = threading.Event(), threading.Event()
        self._taking.set()
        self._thread: threading.Thread | None = None
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scan-consumer", daemon=True)
        self._thread.start()

    def stop_taking(self) -> None:
        """No new messages from now on; the ones in hand can still be settled."""
        self._taking.clear()

    def stop(self, timeout: float = 10.0) -> None:
        """Send the settlements asked for so far and close; the unsettled messages go back to the queue."""
        self._taking.clear()
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def settle(self, outcomes: Sequence[tuple[Delivery, Disposition]]) -> None:
        """Ack, dead-letter or requeue these messages (from any thread); lost with a lost connection, when the
        broker delivers them again (settling is idempotent)."""
        connection = self._connection
        if connection is None or not outcomes:
            return
        try:
            connection.add_callback_threadsafe(lambda: self._settle_now(connection, outcomes))
        except AMQPError:
            pass  # the connection is closing: the broker will deliver them again

    def _settle_now(self, connection, outcomes) -> None:
        channel = self._channel
        if connection is not self._connection or channel is None or not channel.is_open:
            return
        for delivery, disposition in outcomes:
            if disposition is Disposition.ACK:
                channel.basic_ack(delivery.tag)
            else:
                channel.basic_nack(delivery.tag, requeue=disposition is Disposition.REQUEUE)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._consume_until_stopped()
            except (AMQPError, Unavailable) as exc:
                self.connected.clear()
                log.warning("consumer lost the broker (%s); reconnecting", type(exc).__name__)
                self._stopping.wait(2.0)

    def _consume_until_stopped(self) -> None:
        connection = connect(self._url)
        channel = connection.channel()
        self._topology.declare(channel)
        self._connection, self._channel = connection, channel

        def on_message(_channel, method, properties, body) -> None:
            self._deliver(Delivery(method.delivery_tag, body, properties.headers or {}, properties.message_id))

        def consume(prefetch: int) -> str:
            channel.basic_qos(prefetch_count=prefetch)
            return channel.basic_consume(self._topology.queue, on_message)

        prefetch = self._prefetch()
        tag = consume(prefetch)
        self.connected.set()
        try:
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=0.1)
                if tag is not None and not self._taking.is_set():
                    channel.basic_cancel(tag)
                    tag = None
                elif tag is not None and _far_apart(wanted := self._prefetch(), prefetch):
                    # A consumer keeps the prefetch it started with (RabbitMQ applies basic.qos to the consumers
                    # started after it): start again under the new one. Messages in hand stay in hand; those sent
                    # but not yet handed over go back to the queue.
                    channel.basic_cancel(tag)
                    prefetch, tag = wanted, consume(wanted)
            connection.process_data_events(time_limit=0)  # the settlements queued just before the stop
            connection.close()
        finally:
            self._connection = self._channel = None
            self.connected.clear()

"""RabbitMQ through pika: a durable scan queue, persistent committed publishes, a threaded consumer.

Topology: the work queue `<q>`; its dead-letter queue `<q>.dead` for poison messages; and delay queues, one per
retry `<q>.retry.<n>` and one for rechecks `<q>.recheck`, whose messages expire (per-message TTL, so each can
carry its own delay and jitter) and are then dead-lettered back to the work queue. A retry waits in RabbitMQ,
not in a consumer thread.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

from .config import Settings, get_settings, shared_instance
from .errors import Unavailable
from .observability import publish_span

if TYPE_CHECKING:
    from opentelemetry.context import Context

log = logging.getLogger(__name__)


class Disposition(Enum):
    ACK = "ack"  # settled (success, recorded failure, or nothing to do)
    DEAD_LETTER = "dead_letter"  # can never be processed: park it in the dead-letter queue
    REQUEUE = "requeue"  # could not be settled now (e.g. database down): deliver again later


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dead"


@dataclass(frozen=True)
class Topology:
    queue: str
    retries: int = 0  # how many delay queues (one per retry)

    @classmethod
    def from_settings(cls, settings: Settings) -> Topology:
        return cls(settings.scan_queue, len(settings.retry_delays_s))

    @property
    def dead_letter_queue(self) -> str:
        return dead_letter_queue(self.queue)

    def retry_queue(self, retry: int) -> str:
        return f"{self.queue}.retry.{retry}"

    @property
    def recheck_queue(self) -> str:
        """Where a copy of a message whose contract is being scanned waits for the scan's lease to end."""
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


def _connect(url: str) -> pika.BlockingConnection:
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 5
    params.blocked_connection_timeout = 30
    try:
        return pika.BlockingConnection(params)
    except AMQPError as exc:
        raise Unavailable(f"message broker unreachable ({type(exc).__name__})") from None


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

    def _ensure_channel(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self.close()
            self._connection = _connect(self._url)
            self._channel = self._connection.channel()
            self.topology.declare(self._channel)
            self._channel.tx_select()
        return self._channel

    def publish(self, body: bytes, headers: dict | None = None, *, delay_queue: str | None = None,
                delay_s: float = 0.0) -> None:
        """Returns once the broker has committed the persistent message; Unavailable otherwise.

        With `delay_queue` (a retry or the recheck queue), the message comes back to work after `delay_s`.
        """
        queue = delay_queue or self.topology.queue
        headers = dict(headers or {})
        with publish_span(queue, headers):
            expiration = None if delay_queue is None else str(int(delay_s * 1000))
            self._commit([(queue, body, _properties(headers, expiration))])

    def publish_batch(self, messages: list[tuple[bytes, Context | None]]) -> None:
        """Scan messages, each continuing the trace of the context it comes with, in one broker commit."""
        batch = []
        for body, context in messages:
            headers = {}
            with publish_span(self.topology.queue, headers, context):
                batch.append((self.topology.queue, body, _properties(headers)))
        self._commit(batch)

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
                    # duplicate, which the scan's claim makes harmless.
                    self.close()
                    if attempt == 2:
                        reason = type(exc).__name__
                        raise Unavailable(f"message broker did not take the messages ({reason})") from None

    def ping(self) -> None:
        with self._lock:
            try:
                self._ensure_channel()
                self._connection.process_data_events(0)
            except AMQPError as exc:
                self.close()
                raise Unavailable(f"message broker unreachable ({type(exc).__name__})") from None

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except AMQPError:
                pass


def _properties(headers: dict, expiration: str | None = None) -> pika.BasicProperties:
    return pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json",
                                headers=headers, expiration=expiration)


def queue_stats(url: str, queue: str) -> tuple[int, int]:
    """(messages ready, consumers) of the queue, by a passive declare on a short-lived connection."""
    connection = _connect(url)
    try:
        frame = connection.channel().queue_declare(queue, passive=True)
        return frame.method.message_count, frame.method.consumer_count
    finally:
        connection.close()


@shared_instance
def get_publisher() -> Publisher:
    settings = get_settings()
    return Publisher(settings.rabbitmq_url, Topology.from_settings(settings))


MessageHandler = Callable[[bytes, dict], Disposition]


class Consumer:
    """Consumes the scan queue with a pool of workers; each message is acked only after it is settled.

    Settling runs on worker threads; acks go back to the connection's thread, the only one pika allows.
    """

    def __init__(self, url: str, topology: Topology, handle: MessageHandler, concurrency: int):
        self._url, self._topology, self._handle = url, topology, handle
        self._concurrency = concurrency
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="scan-consumer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Take no new messages, let the ones in hand finish (their acks are sent), then close."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._consume_until_stopped()
            except (AMQPError, Unavailable) as exc:
                self.connected.clear()
                log.warning("consumer lost the broker (%s); reconnecting", type(exc).__name__)
                self._stopping.wait(2.0)

    def _consume_until_stopped(self) -> None:
        connection = _connect(self._url)
        channel = connection.channel()
        self._topology.declare(channel)
        channel.basic_qos(prefetch_count=self._concurrency)
        pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="scan")
        unsettled = set()  # delivery tags taken but not yet acked/nacked; touched on the connection's thread only

        def settle_on_connection_thread(delivery_tag: int, disposition: Disposition) -> None:
            unsettled.discard(delivery_tag)
            _settle(channel, delivery_tag, disposition)

        def settle(delivery_tag: int, body: bytes, headers: dict) -> None:
            try:
                disposition = self._handle(body, headers)
            except Exception:
                log.exception("settling a message failed; it will be delivered again")
                time.sleep(1.0)  # do not spin on a dependency that is down
                disposition = Disposition.REQUEUE
            connection.add_callback_threadsafe(
                functools.partial(settle_on_connection_thread, delivery_tag, disposition))

        def on_message(ch, method, properties, body) -> None:
            unsettled.add(method.delivery_tag)
            pool.submit(settle, method.delivery_tag, body, properties.headers or {})

        tag = channel.basic_consume(self._topology.queue, on_message)
        self.connected.set()
        try:
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=0.5)
            channel.basic_cancel(tag)  # unacked prefetched messages go back to the queue on close
            pool.shutdown(wait=True)
            while unsettled:  # send the acks of what just finished before closing
                connection.process_data_events(time_limit=0.05)
            connection.close()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            self.connected.clear()


def _settle(channel: BlockingChannel, delivery_tag: int, disposition: Disposition) -> None:
    if not channel.is_open:
        return  # the broker will redeliver it; settling is idempotent
    if disposition is Disposition.ACK:
        channel.basic_ack(delivery_tag)
    else:
        channel.basic_nack(delivery_tag, requeue=disposition is Disposition.REQUEUE)

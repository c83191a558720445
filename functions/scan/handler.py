"""scan: settle scan messages, from the RabbitMQ consumer (containers) or Amazon MQ events (Lambda)."""

from collections import Counter
from contextlib import asynccontextmanager

from prometheus_client import REGISTRY

from ethsource import contracts
from ethsource.config import get_settings
from ethsource.db import get_database
from ethsource.http import create_app
from ethsource.observability import StateCollector
from ethsource.queue import Consumer, Topology, queue_stats
from ethsource.triggers import rabbitmq_event_messages


@asynccontextmanager
async def consume_while_serving(app):
    settings = get_settings()
    if not settings.scan_consumer:
        yield
        return
    consumer = Consumer(settings.rabbitmq_url, Topology.from_settings(settings), contracts.settle_message,
                        settings.scan_concurrency)
    consumer.start()
    yield
    consumer.stop()


REGISTRY.register(StateCollector(
    get_settings().scan_queue,
    queue_stats=lambda: queue_stats(get_settings().rabbitmq_url, get_settings().scan_queue),
    contract_stats=contracts.contract_stats,
))

app = create_app(
    "scan",
    health_checks={"database": lambda: get_database().ping()},
    description="Scans contracts: health and metrics of the scanner.",
)
app.router.lifespan_context = consume_while_serving


def handler(event: dict, context=None) -> dict:
    """Amazon MQ trigger. There is no partial batch failure, so every message is settled here."""
    messages = rabbitmq_event_messages(event)
    outcomes = Counter(contracts.settle_message(body, headers).value for body, headers in messages)
    return {"settled": sum(outcomes.values()), "outcomes": dict(outcomes)}

"""scan: settle scan messages, from the RabbitMQ consumer, HTTP pushes (Knative, OpenFaaS) or Amazon MQ (Lambda)."""

from contextlib import asynccontextmanager

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from ethsource import contracts
from ethsource.config import get_settings
from ethsource.db import get_database
from ethsource.http import create_app
from ethsource.observability import StateCollector, register_scrape_time_collector
from ethsource.queue import Consumer, Topology, queue_stats
from ethsource.triggers import settle_http_push, settle_rabbitmq_event


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


register_scrape_time_collector(StateCollector(
    get_settings().scan_queue,
    queue_stats=lambda: queue_stats(get_settings().rabbitmq_url, get_settings().scan_queue),
    contract_stats=contracts.contract_stats,
))

app = create_app(
    "scan",
    health_checks={"database": lambda: get_database().ping()},
    description="Scans contracts: takes pushed scan messages; health and metrics of the scanner.",
)
app.router.lifespan_context = consume_while_serving


@app.post("/", status_code=202, tags=["messages"], response_class=Response,
          responses={202: {"description": "settled (a poison message is logged and dropped)"},
                     503: {"description": "not settled now: send it again later"}})
async def deliver(request: Request) -> Response:
    """One scan message: a CloudEvent from Knative (binary or structured mode) or the OpenFaaS connector's POST."""
    body = await request.body()
    return await run_in_threadpool(settle_http_push, contracts.settle_message, request.headers, body)


def handler(event: dict, context=None) -> dict:
    """Amazon MQ trigger: settles the whole batch itself, as Lambda has no partial batch failure."""
    return settle_rabbitmq_event(event, contracts.settle_message, get_settings().scan_concurrency)

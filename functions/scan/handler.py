"""scan: settle scan messages, from the RabbitMQ consumer, HTTP pushes (Knative, OpenFaaS) or Amazon MQ (Lambda)."""

import time
from contextlib import asynccontextmanager

from fastapi import Request, Response

from ethsource.config import get_settings
from ethsource.http import create_app
from ethsource.lambda_runtime import on_lambda
from ethsource.metrics import StateCollector, register_scrape_time_collector
from ethsource.services import scan_services, services
from ethsource.triggers import scan_rabbitmq_event, settle_http_push
from ethsource.worker import ScanWorker

PUSH_DEADLINE_S = 25.0  # a pushed message is answered within this; what cannot start by then is deferred


@asynccontextmanager
async def consume_while_serving(api):
    shared = services()
    if not shared.settings.scan_consumer:
        yield
        return
    worker = ScanWorker(scan_services().scanner, shared.settings.rabbitmq_url, shared.topology,
                        shared.settings.scan_concurrency)
    worker.start()
    yield
    await worker.stop()
    await scan_services().close()


register_scrape_time_collector(StateCollector(get_settings().scan_queue, queue_stats=lambda: services().queue_depth(),
                                              contract_stats=lambda: services().store.stats()))

app = create_app("scan", settings=get_settings(), health_checks={"database": lambda: services().database.ping()},
                 description="Scans contracts: takes pushed scan messages; health and metrics of the scanner.")
app.api.router.lifespan_context = consume_while_serving


@app.api.post("/", status_code=202, tags=["messages"], response_class=Response,
              responses={202: {"description": "settled (a poison message is logged and dropped)"},
                         503: {"description": "not settled now: send it again later"}})
async def deliver(request: Request) -> Response:
    """One scan message: a CloudEvent from Knative (binary or structured mode) or the OpenFaaS connector's POST."""
    body = await request.body()
    return await settle_http_push(scan_services().scanner, request.headers, body, time.monotonic() + PUSH_DEADLINE_S)


@on_lambda("scan")
async def handler(event: dict, deadline: float) -> dict:
    """Amazon MQ trigger: settles the whole batch itself, as Lambda has no partial batch failure."""
    scanning = scan_services()
    try:
        return await scan_rabbitmq_event(event, scanning.scanner, deadline)
    finally:
        await scanning.release_budgets()  # the keys go to other invocations at once, not when their leases end

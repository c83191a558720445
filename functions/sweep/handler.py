"""sweep: queue again the contracts stuck in CREATED or PROCESS, on a schedule.

Triggered by a SAM Schedule (Lambda), a PingSource (Knative) or the cron connector (OpenFaaS) POSTing to `/`;
locally and in docker-compose it schedules itself every SWEEP_INTERVAL seconds.
"""

import asyncio
import logging
from contextlib import asynccontextmanager

from starlette.concurrency import run_in_threadpool

from ethsource import contracts
from ethsource.config import get_settings
from ethsource.db import get_database
from ethsource.http import create_app
from ethsource.queue import get_publisher

log = logging.getLogger(__name__)


@asynccontextmanager
async def sweep_on_a_timer(app):
    interval = get_settings().sweep_interval_s
    task = asyncio.create_task(_every(interval)) if interval > 0 else None
    yield
    if task:
        task.cancel()


async def _every(interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(contracts.sweep)
        except Exception:  # the next round tries again; the error is logged and counted by the logs
            log.exception("sweep failed")


app = create_app(
    "sweep",
    health_checks={"database": lambda: get_database().ping(), "broker": lambda: get_publisher().ping()},
    description="Queues again the contracts stuck in CREATED or PROCESS.",
)
app.router.lifespan_context = sweep_on_a_timer


@app.post("/", tags=["operations"])
def sweep() -> dict:
    """Run one sweep now (what a scheduler calls)."""
    return {"requeued": contracts.sweep()}


def handler(event: dict, context=None) -> dict:
    """Lambda, on a schedule (EventBridge)."""
    return {"requeued": contracts.sweep()}

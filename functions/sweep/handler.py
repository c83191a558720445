"""sweep: queue again the contracts whose scan message was lost, on a schedule.

Triggered by a SAM Schedule (Lambda), a PingSource (Knative) or the cron connector (OpenFaaS) POSTing to `/`;
locally and in docker-compose it schedules itself every SWEEP_INTERVAL seconds.
"""

import asyncio
import logging
from contextlib import asynccontextmanager

from starlette.concurrency import run_in_threadpool

from ethsource.config import get_settings
from ethsource.http import create_app
from ethsource.lambda_runtime import lambda_entry
from ethsource.services import services
from ethsource.sweeping import sweep as sweep_lost

log = logging.getLogger(__name__)


def sweep_now() -> int:
    shared = services()
    return sweep_lost(shared.store, shared.publisher, shared.messages_waiting,
                      older_than_s=shared.settings.sweep_after_s)


@asynccontextmanager
async def sweep_on_a_timer(api):
    interval = get_settings().sweep_interval_s
    task = asyncio.create_task(_every(interval)) if interval > 0 else None
    yield
    if task:
        task.cancel()


async def _every(interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(sweep_now)
        except Exception:  # the next round tries again; the error is logged
            log.exception("sweep failed")


app = create_app("sweep", settings=get_settings(), description="Queues again the contracts whose scan was lost.",
                 health_checks={"database": lambda: services().database.ping(),
                                "broker": lambda: services().publisher.ping()})
app.api.router.lifespan_context = sweep_on_a_timer


@app.api.post("/", tags=["operations"])
def sweep() -> dict:
    """Run one sweep now (what a scheduler calls)."""
    return {"requeued": sweep_now()}


@lambda_entry("sweep")
def handler(event: dict, context=None) -> dict:
    """Lambda, on a schedule (EventBridge)."""
    return {"requeued": sweep_now()}

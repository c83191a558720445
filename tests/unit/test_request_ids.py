"""Request ids without a tracing backend: every line written for a request, a message or a sweep names an id that
the answer (X-Request-ID) or the queued message carries too."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from ethsource import sweeping
from ethsource.config import Settings
from ethsource.http import create_app
from ethsource.observability import REQUEST_ID, ContextFilter
from tests.unit.memory import Published


class Lines(logging.Handler):
    """The records of the `ethsource` loggers, as the functions' handler sees them (its filter applied)."""

    def __init__(self):
        super().__init__()
        self.addFilter(ContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def lines() -> Iterator[Lines]:
    handler, logger = Lines(), logging.getLogger("ethsource")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_health_check_or_scrape_answers_with_the_id_its_log_lines_carry():
    def database_check():  # a sync route: it runs on a worker thread, which must see the request's id
        logging.getLogger("ethsource.test").info("checking the database")

    app = create_app("ids-fastapi-test", settings=Settings.from_env({}), health_checks={"database": database_check},
                     description="test")

    async def scenario():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return [await client.get("/healthz"), await client.get("/metrics", headers={"x-request-id": "scrape-1"})]

    with lines() as logged:
        health, scrape = asyncio.run(scenario())
    assert len(health.headers["x-request-id"]) == 16 and scrape.headers["x-request-id"] == "scrape-1"
    [line] = [r for r in logged.records if r.getMessage() == "checking the database"]
    assert line.request_id == health.headers["x-request-id"]


class StuckRows:
    def requeue_stuck(self, older_than_s, limit, batch, publish):
        keys = [(1, "0x" + "11" * 20), (10, "0x" + "22" * 20)]
        publish(keys)
        return keys


def test_a_sweep_rounds_lines_and_the_messages_it_queues_carry_one_id():
    publisher = Published()
    with lines() as logged:
        assert sweeping.sweep(StuckRows(), publisher, lambda: 0, older_than_s=600) == 2
    ids = {item.request_id for group in publisher.outgoing for item in group.items}
    assert len(ids) == 1 and None not in ids
    assert {r.request_id for r in logged.records if r.name == "ethsource.sweeping"} == ids


def test_a_scheduled_sweep_takes_the_id_of_the_request_that_started_it():
    publisher = Published()
    token = REQUEST_ID.set("cron-7")
    try:
        sweeping.sweep(StuckRows(), publisher, lambda: 0, older_than_s=600)
    finally:
        REQUEST_ID.reset(token)
    assert {item.request_id for group in publisher.outgoing for item in group.items} == {"cron-7"}


def test_a_line_about_one_contract_keeps_its_own_request_id():
    logger = logging.getLogger("ethsource.test")
    token = REQUEST_ID.set("message-1")
    try:
        with lines() as logged:
            logger.info("about the message")
            logger.info("about a contract", extra={"request_id": "submit-9"})
    finally:
        REQUEST_ID.reset(token)
    assert [r.request_id for r in logged.records] == ["message-1", "submit-9"]

"""Run one function on an event file, in this process, and print its answer.

The kind of event picks the entry point: API Gateway (HTTP API v2, REST API v1), ALB, Amazon MQ (RabbitMQ) and
EventBridge schedule events go to the function's Lambda handler; a CloudEvent (JSON with `specversion`) is posted
to the function's HTTP endpoint in structured mode, as Knative pushes a scan message or a PingSource its ping.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .config import get_settings
from .observability import configure_logging
from .serving import load


@dataclass
class LocalContext:
    """The attributes of a Lambda context object that handlers and Mangum read."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:ethsource-{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def invoke(function: str, event_file: Path) -> dict:
    event = json.loads(event_file.read_text())
    configure_logging(function, get_settings().log_level, sys.stderr)  # stdout carries the answer alone
    module = load(function)
    if "specversion" in event:
        response = request(module.app, "POST", "/", {"content-type": "application/cloudevents+json"},
                           json.dumps(event).encode())
        return {"statusCode": response.status_code, "headers": dict(response.headers), "body": response.text}
    with contextlib.redirect_stdout(sys.stderr):  # the metrics' EMF lines go with the logs, as on Lambda
        return module.handler(event, LocalContext(function))


def request(app, method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes = b"") -> httpx.Response:
    """One HTTP request to an ASGI app in this process (without its lifespan), as a platform would send it."""

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://function") as client:
            return await client.request(method, path, headers=dict(headers or {}), content=body)

    return _loop().run_until_complete(send())


@functools.cache
def _loop() -> asyncio.AbstractEventLoop:
    """One loop for this process's requests, as a server has (what lives on it, like the scanner, carries over
    from one request to the next), never made the current one: Mangum's handlers keep using theirs."""
    return asyncio.new_event_loop()

"""Run one function's Lambda handler on an event file, in this process, and print its answer."""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ethsource.observability import configure_logging

from .functions import load


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
    configure_logging(function, stream=sys.stderr)  # stdout carries the answer alone
    return load(function).handler(event, LocalContext(function))

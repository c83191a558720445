"""What the deployment artifacts are checked against: the names the code reads, its functions and routes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ethsource.config import Settings
from ethsource.secrets import resolve_secrets
from ethsource.serving import HTTP_FUNCTIONS, load

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Read by the image's entrypoint (Dockerfile), not by Settings: which function to serve, and on which port.
IMAGE_ENV = frozenset({"FUNCTION", "PORT"})


class RecordingEnv(dict):
    """An empty environment that remembers every name looked up in it."""

    def __init__(self):
        super().__init__()
        self.read: set[str] = set()

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)


@pytest.fixture(scope="session")
def setting_names() -> frozenset[str]:
    """Every environment name the code reads: Settings' and the secret references resolved before them."""
    env = RecordingEnv()
    resolve_secrets(env)
    return frozenset(env.read) | {field.validation_alias for field in Settings.model_fields.values()}


@pytest.fixture(scope="session")
def http_routes() -> dict[str, set[tuple[str, str]]]:
    """(method, path) of each HTTP function's API routes."""
    return {name: {(route.method, route.path) for route in load(name).app.routes} for name in HTTP_FUNCTIONS}


@pytest.fixture(scope="session")
def image_python() -> str:
    """The Python version of the one image (Dockerfile), e.g. "3.11"."""
    return re.search(r"^FROM python:(\d+\.\d+)", (PROJECT_ROOT / "Dockerfile").read_text(), re.M).group(1)

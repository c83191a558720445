"""A fake Etherscan (API v2 ``getsourcecode``) for tests, local runs and load tests."""

from .app import FakeConfig, create_app
from .corpus import (
    SHAPES,
    address_with_shape,
    expected_files,
    getsourcecode_answer,
    implementation_of,
    shape_of,
)
from .server import main, running, stats

__all__ = [
    "SHAPES",
    "FakeConfig",
    "address_with_shape",
    "create_app",
    "expected_files",
    "getsourcecode_answer",
    "implementation_of",
    "main",
    "running",
    "stats",
    "shape_of",
]

"""Fixtures of the observability tests: the script behind `make observe`, and the real binaries.

The tests run Debian's promtool, amtool, Prometheus, Alertmanager and node-exporter (local/services.sh
installs them); Grafana, Loki, Tempo and Alloy are not installable here, so their configs are checked as data.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable
from types import ModuleType

import pytest

from tests.observability.configs import OBSERVABILITY


@pytest.fixture(scope="session")
def observe() -> ModuleType:
    """observability/observe.py, the script behind `make observe`."""
    spec = importlib.util.spec_from_file_location("ethsource_observe", OBSERVABILITY / "observe.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def binary() -> Callable[[str], str]:
    def find(name: str) -> str:
        path = shutil.which(name)
        assert path, f"{name} is missing: local/services.sh installs it (a Debian package)"
        return path

    return find

"""Serving a function: where the function folders are, loading a handler by its path, and running it under uvicorn."""

from __future__ import annotations

import gc
import importlib.util
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # a checkout, or /app in the image: shared/ethsource/ here
# In the order of the local layout's ports (the runner's Layout): the gateway's + 1, + 2, ...; new ones go last.
FUNCTIONS = ("submit", "status", "download", "scan", "sweep")
HTTP_FUNCTIONS = ("submit", "status", "download")  # the API's; scan takes messages, sweep runs on a schedule
SCAN_NICENESS = 10
# Young collections this many allocations apart, not 700: see collect_less.
YOUNG_COLLECTION_EVERY = 50_000


def handler_path(name: str) -> Path:
    if name not in FUNCTIONS:
        raise ValueError(f"unknown function {name!r}; one of {', '.join(FUNCTIONS)}")
    return PROJECT_ROOT / "functions" / name / "handler.py"


def serve(name: str, host: str, port: int) -> None:
    """The function over HTTP, as a container runs it: WEB_CONCURRENCY processes (uvicorn's own setting) on
    one port. One sweeper always: it runs on a timer."""
    processes = 1 if name == "sweep" else int(os.environ.get("WEB_CONCURRENCY") or 1)
    if name == "scan":
        # A background worker: where it shares cores with the API functions, they come first.
        os.nice(SCAN_NICENESS)
    with ExitStack() as cleanup:
        if processes > 1:
            # Every process writes its metrics to files there and /metrics sums them (metrics_registry). Set
            # before uvicorn starts the processes: they read it when they import prometheus_client.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = cleanup.enter_context(
                tempfile.TemporaryDirectory(prefix=f"ethsource-{name}-metrics-"))
        run_uvicorn("handler:app", str(handler_path(name).parent), host, port, processes)


def run_uvicorn(app: str, app_dir: str | None, host: str, port: int, processes: int) -> None:
    """uvicorn as every function runs (and the benchmark's ceiling, so that both are served alike).

    timeout_keep_alive above the gateway's (nginx: 60 s for its idle upstream connections): the side that sends
    requests must close an idle connection first, or a request can meet the server's close and be reset. No
    proxy-headers middleware: nothing reads the client's address, and it costs every request. The protocol is
    uvicorn's httptools one with bounded header reads and JSON refusals, named by its import path.
    """
    import uvicorn

    uvicorn.run(app, app_dir=app_dir, host=host, port=port, workers=processes, access_log=False,
                log_level="warning", timeout_graceful_shutdown=20, timeout_keep_alive=75, server_header=False,
                proxy_headers=False, loop="uvloop", http="ethsource.http_protocol:FunctionHttpProtocol")


def collect_less() -> None:
    """For a process that serves many requests at once, once its modules are imported. A young collection every
    700 allocations (Python's default) went again through the objects of every request still in hand, and each
    older one through every imported module's: the modules frozen out of the collections and the young
    collected every 50 000 allocations, a function took ~8 % less CPU a request; the load generator had spent a
    quarter of its CPU collecting at overload (docs/performance.md). Cycles are still collected."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY)


def load(name: str) -> ModuleType:
    """Import functions/<name>/handler.py under a unique module name (every folder has a handler.py)."""
    module_name = f"ethsource_function_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, handler_path(name))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module

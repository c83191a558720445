"""Run the fake explorers: in a background thread for tests, or in the foreground from the CLI."""

from __future__ import annotations

import argparse
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from .app import FakeConfig, create_app
from .chains import DEFAULT_CHAINS

ENV_PREFIX = "FAKE_ETHERSCAN_"
START_TIMEOUT_S = 10


def _uvicorn_config(config: FakeConfig, **kwargs) -> uvicorn.Config:
    # The access log would print every query string, and with it the apikey.
    return uvicorn.Config(create_app(config), access_log=False, lifespan="off", **kwargs)


def stats(api_url: str) -> dict:
    """The counters of the fake whose API is at `api_url` (what `running` yields)."""
    return httpx.get(api_url.replace("/v2/api", "/_fake/stats")).json()


def explorer_urls(api_url: str, chain_ids: Iterable[int] = DEFAULT_CHAINS) -> dict[str, str]:
    """The settings that point a scanner at every fake explorer behind `api_url` (what `running` yields)."""
    root = api_url.removesuffix("/v2/api")
    return {
        "ETHERSCAN_API_URL": api_url,
        "SOURCIFY_API_URL": f"{root}/sourcify/server",
        "BLOCKSCOUT_API_URLS": ",".join(f"{chain}={root}/blockscout/{chain}" for chain in sorted(chain_ids)),
    }


@contextmanager
def running(config: FakeConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve the fake on ``host:port`` (a free port when 0) and yield its ``…/v2/api`` URL."""
    # Binding here, not in uvicorn, settles the port before the thread starts: no race for a free one.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    root = f"http://{host}:{sock.getsockname()[1]}"
    # log_config=None leaves the host process's logging alone; a short graceful shutdown keeps
    # a hanging injected fault from holding up the exit.
    server = uvicorn.Server(
        _uvicorn_config(config or FakeConfig(), log_config=None, log_level="warning", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="fake-etherscan", daemon=True)
    thread.start()
    try:
        _wait_until_answering(root + "/_fake/stats", thread)
        yield root + "/v2/api"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)
        sock.close()


def _wait_until_answering(url: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(timeout=1) as client:
        while True:
            try:
                client.get(url).raise_for_status()
                return
            except httpx.TransportError:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"the fake explorers did not start answering on {url}") from None
                time.sleep(0.01)


def parse_args(argv: list[str] | None = None) -> tuple[FakeConfig, str, int]:
    """CLI options; each defaults to the environment variable ``FAKE_ETHERSCAN_<OPTION>``."""

    def env(name: str, default: str | None) -> str | None:
        return os.environ.get(ENV_PREFIX + name, default)

    parser = argparse.ArgumentParser(prog="python -m ethsource_local.fake_etherscan", description=__doc__)
    # argparse runs string defaults through `type`, so values from the environment get converted too.
    parser.add_argument("--host", default=env("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=env("PORT", "8545"))
    parser.add_argument("--latency-ms", type=float, default=env("LATENCY_MS", "0"), help="mean added delay per call")
    parser.add_argument("--jitter-ms", type=float, default=env("JITTER_MS", "0"), help="spread around the latency")
    parser.add_argument("--api-keys", default=env("API_KEYS", ""),
                        help="Etherscan's keys, comma-separated; empty accepts any key")
    parser.add_argument("--rate-limit", type=float, default=env("RATE_LIMIT", "0"),
                        help="Etherscan calls/s per key; 0: none")
    parser.add_argument("--budget", type=float, default=env("BUDGET", None),
                        help="Etherscan calls/s per key counted as over")
    parser.add_argument("--sourcify-rate-limit", type=float, default=env("SOURCIFY_RATE_LIMIT", "0"),
                        help="Sourcify calls/s per key, also its budget; 0: none")
    parser.add_argument("--blockscout-rate-limit", type=float, default=env("BLOCKSCOUT_RATE_LIMIT", "0"),
                        help="Blockscout calls/s per key, also its budget; 0: none")
    parser.add_argument("--error-rate", type=float, default=env("ERROR_RATE", "0"),
                        help="fraction of calls (to any explorer) answered 502")
    parser.add_argument("--timeout-rate", type=float, default=env("TIMEOUT_RATE", "0"), help="fraction that hang")
    parser.add_argument("--rate-limit-rate", type=float, default=env("RATE_LIMIT_RATE", "0"))
    parser.add_argument("--hang-s", type=float, default=env("HANG_S", "30"), help="how long a hanging call waits")
    args = parser.parse_args(argv)
    config = FakeConfig(
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        api_keys=tuple(k.strip() for k in args.api_keys.split(",") if k.strip()),
        rate_limit=args.rate_limit,
        budget=args.budget,
        sourcify_rate_limit=args.sourcify_rate_limit,
        blockscout_rate_limit=args.blockscout_rate_limit,
        error_rate=args.error_rate,
        timeout_rate=args.timeout_rate,
        rate_limit_rate=args.rate_limit_rate,
        hang_s=args.hang_s,
    )
    return config, args.host, args.port


def main(argv: list[str] | None = None) -> None:
    config, host, port = parse_args(argv)
    uvicorn.Server(_uvicorn_config(config, host=host, port=port, log_level="info")).run()

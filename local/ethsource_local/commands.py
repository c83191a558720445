"""The local tooling's commands of `ethsource` (joined through the `ethsource.commands` entry point):
`run`, the whole system on this machine, and `fake-etherscan`."""

from __future__ import annotations

import argparse
import os


def register(commands) -> dict:
    run = commands.add_parser("run", help="start the functions, the gateway and (without API keys) a fake Etherscan")
    run.add_argument("--port", type=int, default=8080, help="gateway port; the processes behind it take the next ones")
    run.add_argument("--fake-latency-ms", type=float, default=50.0, help="delay the fake Etherscan adds to each call")
    run.add_argument("--chaos", action="store_true",
                     help="give every function the /_chaos routes: log lines, errors and delays on demand")
    # Its options are the fake's own (ethsource_local.fake_etherscan), passed on as they are.
    fake = commands.add_parser("fake-etherscan", help="serve the fake Etherscan (see --help of it)", add_help=False)
    fake.set_defaults(takes_rest=True)
    return {"run": _run, "fake-etherscan": _fake_etherscan}


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    from .runner import run

    if args.chaos:
        os.environ["CHAOS_ENDPOINTS"] = "true"  # the functions inherit the runner's environment
    return run(args.port, args.fake_latency_ms)


def _fake_etherscan(args: argparse.Namespace, rest: list[str]) -> int:
    from .fake_etherscan.server import main

    return main(rest) or 0

"""The `ethsource` command: run the system locally, migrate, invoke one function, serve the fake Etherscan."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .functions import FUNCTIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ethsource", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start the functions, the gateway and (without API keys) a fake Etherscan")
    run.add_argument("--port", type=int, default=8080, help="gateway port; the processes behind it take the next ones")
    run.add_argument("--fake-latency-ms", type=float, default=50.0, help="delay the fake Etherscan adds to each call")
    run.add_argument("--chaos", action="store_true",
                     help="give every function the /_chaos routes: log lines, errors and delays on demand")

    serve = commands.add_parser("serve", help="serve one function over HTTP (what a container runs)")
    serve.add_argument("function", choices=FUNCTIONS)
    serve.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))

    commands.add_parser("migrate", help="create the database if needed and apply pending migrations")

    invoke = commands.add_parser(
        "invoke", help="run one function on an event file: API Gateway (v2, v1), ALB, Amazon MQ and scheduled "
                       "(EventBridge) events go to its Lambda handler, a CloudEvent to its HTTP endpoint")
    invoke.add_argument("function", choices=FUNCTIONS)
    invoke.add_argument("--event", type=Path, required=True,
                        help="a JSON event file, e.g. local/events/submit-apigw-v2.json or scan-cloudevent.json")

    openapi = commands.add_parser("openapi", help="write the OpenAPI document of the whole API")
    openapi.add_argument("--output", type=Path, default=None, help="default: print it")

    # Its options are the fake's own (ethsource_local.fake_etherscan), passed on as they are.
    commands.add_parser("fake-etherscan", help="serve the fake Etherscan (see --help of it)", add_help=False)

    args, rest = parser.parse_known_args(argv)
    if args.command == "fake-etherscan":
        from .fake_etherscan.server import main as fake_main

        return fake_main(rest) or 0
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "run":
        from .runner import run as run_locally

        if args.chaos:
            os.environ["CHAOS_ENDPOINTS"] = "true"  # the functions inherit the runner's environment
        return run_locally(args.port, args.fake_latency_ms)
    if args.command == "serve":
        from .functions import serve as serve_function

        serve_function(args.function, args.host, args.port)
        return 0
    if args.command == "migrate":
        from ethsource.config import get_settings
        from ethsource.db import migrate

        applied = migrate(get_settings().database_url)
        print(f"applied {len(applied)} migrations" + (f": {', '.join(applied)}" if applied else ""))
        return 0
    if args.command == "invoke":
        from .invoke import invoke as invoke_function

        print(json.dumps(invoke_function(args.function, args.event), indent=2))
        return 0
    from .openapi import combined_document  # the one command left: openapi

    text = json.dumps(combined_document(), indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

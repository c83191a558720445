"""The `ethsource` command: the users' client (`get`, `status`); and serving a function, migrating, invoking a
function on an event, writing the OpenAPI document.

Commands from elsewhere join through the `ethsource.commands` entry points: the local tooling's `run` and
`fake-etherscan` (ethsource_local, in a checkout), so the library itself never imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from . import client
from .serving import FUNCTIONS

Command = Callable[[argparse.Namespace, list[str]], int]
USAGE_ERROR = 64  # EX_USAGE: argparse's own 2 would read as "service unreachable" from `get`


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="ethsource", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, Command] = {}

    serve = commands.add_parser("serve", help="serve one function over HTTP (what a container runs)")
    serve.add_argument("function", choices=FUNCTIONS)
    serve.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    handlers["serve"] = _serve

    commands.add_parser("migrate", help="create the database if needed and apply pending migrations")
    handlers["migrate"] = _migrate

    invoke = commands.add_parser(
        "invoke", help="run one function on an event file: API Gateway (v2, v1), ALB, Amazon MQ and scheduled "
                       "(EventBridge) events go to its Lambda handler, a CloudEvent to its HTTP endpoint")
    invoke.add_argument("function", choices=FUNCTIONS)
    invoke.add_argument("--event", type=Path, required=True,
                        help="a JSON event file, e.g. local/events/submit-apigw-v2.json or scan-cloudevent.json")
    handlers["invoke"] = _invoke

    openapi = commands.add_parser("openapi", help="write the OpenAPI document of the whole API")
    openapi.add_argument("--output", type=Path, default=None, help="default: print it")
    handlers["openapi"] = _openapi

    client.add_commands(commands)  # the users' client: get, status
    handlers["get"] = handlers["status"] = _client

    for entry in entry_points(group="ethsource.commands"):
        try:
            register = entry.load()
        except ImportError:  # a deployment without that tooling (the function images)
            continue
        handlers.update(register(commands))

    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "takes_rest", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return handlers[args.command](args, rest) or 0


def _client(args: argparse.Namespace, rest: list[str]) -> int:
    return client.run(args)


def _serve(args: argparse.Namespace, rest: list[str]) -> int:
    from .serving import serve

    serve(args.function, args.host, args.port)
    return 0


def _migrate(args: argparse.Namespace, rest: list[str]) -> int:
    from .config import get_settings
    from .db import migrate

    applied = migrate(get_settings().database_url)
    print(f"applied {len(applied)} migrations" + (f": {', '.join(applied)}" if applied else ""))
    return 0


def _invoke(args: argparse.Namespace, rest: list[str]) -> int:
    from .invoke import invoke

    print(json.dumps(invoke(args.function, args.event), indent=2))
    return 0


def _openapi(args: argparse.Namespace, rest: list[str]) -> int:
    from .openapi import combined_document

    text = json.dumps(combined_document(), indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

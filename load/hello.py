"""A FastAPI hello-world served the way `ethsource serve` serves a function (ethsource.serving.run_uvicorn): the
ceiling of the HTTP stack.

`/sync` is a plain `def` route run in the thread pool; `/async` skips the pool, as the API routes do;
`/contracts/{address}` is `/async` at the status route's path, for the ceiling through the gateway.
"""

from __future__ import annotations

import argparse
import os

from fastapi import FastAPI

from ethsource.serving import run_uvicorn

app = FastAPI(title="hello")


@app.get("/sync")
def hello_sync() -> dict:
    return {"hello": "world"}


@app.get("/async")
async def hello_async() -> dict:
    return {"hello": "world"}


@app.get("/contracts/{address}")
async def hello_through_gateway(address: str) -> dict:
    return {"hello": "world"}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m load.hello", description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    port = parser.parse_args().port
    run_uvicorn("load.hello:app", None, "127.0.0.1", port, int(os.environ.get("WEB_CONCURRENCY") or 1))


if __name__ == "__main__":
    main()

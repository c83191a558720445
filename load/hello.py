"""A FastAPI hello-world served the way `ethsource serve` serves a function: the ceiling of the HTTP stack.

`/sync` is a plain `def` route run in the thread pool, as the handlers are; `/async` skips the pool.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

app = FastAPI(title="hello")


@app.get("/sync")
def hello_sync() -> dict:
    return {"hello": "world"}


@app.get("/async")
async def hello_async() -> dict:
    return {"hello": "world"}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m load.hello", description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    port = parser.parse_args().port
    # The settings of ethsource.serving.serve: WEB_CONCURRENCY processes (uvicorn reads it), no access log.
    uvicorn.run("load.hello:app", host="127.0.0.1", port=port, access_log=False, log_level="warning",
                timeout_graceful_shutdown=20, server_header=False)


if __name__ == "__main__":
    main()

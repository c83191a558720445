"""An overloaded function answers 503 at once instead of queuing requests until their callers give up."""

from __future__ import annotations

import asyncio

import httpx

from ethsource.http import LoadSheddingMiddleware
from ethsource.observability import HTTP_REQUESTS, HttpMetricsMiddleware


def test_requests_beyond_the_limit_get_503_with_retry_after_and_the_rest_are_served():
    release = asyncio.Event()
    started = 0

    async def slow_app(scope, receive, send):
        nonlocal started
        started += 1
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    app = HttpMetricsMiddleware(LoadSheddingMiddleware(slow_app, limit=2), function="shedding-test")
    shed_before = HTTP_REQUESTS.labels("shedding-test", "unmatched", "GET", "503")._value.get()

    async def scenario():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            held = [asyncio.create_task(client.get("/contracts/x")) for _ in range(2)]
            while started < 2:
                await asyncio.sleep(0.001)
            refused = await client.get("/contracts/y")
            alive = client.get("/_/health")  # exempt: answered by the app even now
            release.set()
            served = await asyncio.gather(*held, alive)
            after = await client.get("/contracts/z")  # the slots are free again
            return refused, served, after

    refused, served, after = asyncio.run(scenario())
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
    assert [answer.status_code for answer in served] == [200, 200, 200]
    assert after.status_code == 200
    assert started == 4  # the refused request never reached the app
    assert HTTP_REQUESTS.labels("shedding-test", "unmatched", "GET", "503")._value.get() == shed_before + 1

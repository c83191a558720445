"""The API routes' own ASGI app (ethsource.http.FunctionApp): admission, keys, ids, metrics, errors, HTTP rules."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from pydantic import BaseModel

from ethsource.config import Settings
from ethsource.errors import NotFound
from ethsource.http import Answer, ApiRequest, create_app
from ethsource.metrics import HTTP_IN_FLIGHT, HTTP_REQUESTS
from ethsource.models import Contract, StatusQuery, SubmitRequest


class Echo(BaseModel):
    address: str


def build(name: str, **env) -> tuple:
    """An app with a GET route that waits for `release` and a POST route that echoes; (app, release, state)."""
    app = create_app(name, settings=Settings.from_env(env), health_checks={}, description="test")
    release, state = asyncio.Event(), {"started": 0}

    @app.route("GET", "/things/{address}", query=StatusQuery, responses={200: (Echo, "the thing")})
    async def get_thing(request: ApiRequest) -> Answer:
        """A thing"""
        state["started"] += 1
        if request.path_params["address"] == "missing":
            raise NotFound("no such thing")
        if request.path_params["address"] == "broken":
            raise RuntimeError("a bug")
        if request.path_params["address"] == "slow":
            await release.wait()
        if request.path_params["address"] == "parked":
            with app.parked():
                await release.wait()
        return Answer(200, Echo(address=request.path_params["address"]))

    @app.route("POST", "/things", body=SubmitRequest, responses={200: (Contract, "echo")})
    async def post_thing(request: ApiRequest) -> Answer:
        """Post a thing"""
        return Answer(200, SubmitRequest.model_validate_json(request.body))

    return app, release, state


def run(app, scenario):
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await scenario(client)
    return asyncio.run(go())


def test_past_the_limit_a_request_is_refused_at_once_with_retry_after_and_counted():
    app, release, state = build("admission-test")
    app.max_in_flight = 2
    refused_before = HTTP_REQUESTS.labels("admission-test", "/things/{address}", "GET", "503")._value.get()

    async def scenario(client):
        held = [asyncio.create_task(client.get("/things/slow")) for _ in range(2)]
        while state["started"] < 2:
            await asyncio.sleep(0.001)
        refused = await client.get("/things/slow")
        alive = await client.get("/_/health")  # liveness never depends on load
        release.set()
        served = await asyncio.gather(*held)
        return refused, alive, served, await client.get("/things/after")

    refused, alive, served, after = run(app, scenario)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
    assert alive.status_code == 200 and [a.status_code for a in served] == [200, 200] and after.status_code == 200
    assert state["started"] == 3  # the refused request never reached its handler
    assert HTTP_REQUESTS.labels("admission-test", "/things/{address}", "GET", "503")._value.get() == refused_before + 1


def test_a_parked_long_poll_does_not_count_as_work_in_progress():
    app, release, state = build("parked-test")
    app.max_in_flight = 1

    async def scenario(client):
        parked = asyncio.create_task(client.get("/things/parked"))
        while state["started"] < 1:
            await asyncio.sleep(0.001)
        served = await client.get("/things/now")
        release.set()
        return served, await parked

    served, parked = run(app, scenario)
    assert served.status_code == 200 and parked.status_code == 200


def test_a_request_still_receiving_its_body_holds_no_admission_slot():
    app, _, _ = build("body-wait-test")
    app.max_in_flight = 1

    async def scenario(client):
        body_awaited, body_sent, answers = asyncio.Event(), asyncio.Event(), []

        async def slow_body():
            body_awaited.set()
            await body_sent.wait()
            return {"type": "http.request", "body": b'{"address": "0xabc"}', "more_body": False}

        async def send(message):
            answers.append(message)

        scope = {"type": "http", "method": "POST", "path": "/things", "query_string": b"", "headers": []}
        posting = asyncio.create_task(app(scope, slow_body, send))
        await body_awaited.wait()  # the post was admitted and waits for its body
        served = await client.get("/things/now")
        body_sent.set()
        await posting
        return served, answers[0]["status"]

    served, posted = run(app, scenario)
    assert served.status_code == 200 and posted == 200 and app.in_flight == 0


def test_with_api_keys_a_missing_or_wrong_key_is_401_and_the_right_one_passes():
    app, _, _ = build("keys-test", API_KEYS="k1,k2")

    async def scenario(client):
        return [await client.get("/things/a", headers=headers) for headers in ({}, {"x-api-key": "nope"},
                                                                              {"x-api-key": "k2"})]

    missing, wrong, right = run(app, scenario)
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert missing.json()["error"]["message"] == "the X-API-Key header is missing"
    assert missing.headers["www-authenticate"] == "X-API-Key"


def test_every_answer_carries_a_request_id_and_a_callers_own_id_is_kept():
    app, _, _ = build("ids-test")

    async def scenario(client):
        return [await client.get("/things/a"), await client.get("/things/a", headers={"x-request-id": "abc-123"}),
                await client.get("/things/a", headers={"x-request-id": "not a token!"})]

    generated, kept, replaced = run(app, scenario)
    assert len(generated.headers["x-request-id"]) == 16
    assert kept.headers["x-request-id"] == "abc-123"
    assert replaced.headers["x-request-id"] != "not a token!"


def test_health_metrics_and_documents_are_not_counted_as_api_traffic():
    app, _, _ = build("traffic-test")

    async def scenario(client):
        for path in ("/_/health", "/metrics", "/openapi.json", "/healthz"):
            await client.get(path)
        return await client.get("/things/a")

    run(app, scenario)
    counted = {sample.labels["route"] for metric in HTTP_REQUESTS.collect() for sample in metric.samples
               if sample.labels.get("function") == "traffic-test"}
    assert counted == {"/things/{address}"}


def test_in_flight_reads_zero_once_the_requests_are_answered_and_a_scrape_does_not_count():
    app, release, state = build("in-flight-test")

    async def scenario(client):
        held = [asyncio.create_task(client.get("/things/slow")) for _ in range(3)]
        while state["started"] < 3:
            await asyncio.sleep(0.001)
        release.set()
        await asyncio.gather(*held)  # answered within the half second the gauge is otherwise set at most once in
        await client.get("/metrics")

    run(app, scenario)
    assert HTTP_IN_FLIGHT.labels("in-flight-test")._value.get() == 0


@pytest.mark.parametrize("query", ["chain_id=1.0", "chain_id=%2B1", "chain_id=01", "chain_id=%201", "chain_id=1_0",
                                   "chain_id=1&chain_id=2", "wait=26", "wait=-1"])
def test_query_values_are_taken_only_in_their_one_canonical_form(query):
    app, _, _ = build("query-test")
    answer = run(app, lambda client: client.get(f"/things/a?{query}"))
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request"


def test_head_is_a_get_without_a_body_and_another_method_is_405_with_allow():
    app, _, _ = build("methods-test")

    async def scenario(client):
        return await client.head("/things/a"), await client.delete("/things/a"), await client.get("/things")

    head, delete, get = run(app, scenario)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
    assert delete.status_code == 405 and delete.headers["allow"] == "GET, HEAD"
    assert delete.json()["error"]["code"] == "method_not_allowed"
    assert get.status_code == 405 and get.headers["allow"] == "POST"


def test_bad_bodies_get_their_own_clear_errors():
    app, _, _ = build("bodies-test")

    async def scenario(client):
        return [await client.post("/things", content=body) for body in (
            b"{", b'{"address": "0x1", "colour": "red"}', b'{"chain_id": 1}', b"x" * 20_000)]

    broken, unknown, missing, large = run(app, scenario)
    assert (broken.status_code, broken.json()["error"]["code"]) == (422, "invalid_json")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "unknown_field")
    assert (missing.status_code, missing.json()["error"]["code"]) == (422, "missing_field")
    assert (large.status_code, large.json()["error"]["code"]) == (413, "body_too_large")


def test_errors_are_json_and_an_unexpected_one_is_a_500():
    app, _, _ = build("errors-test")

    async def scenario(client):
        return await client.get("/things/missing"), await client.get("/things/broken")

    missing, broken = run(app, scenario)
    assert missing.status_code == 404 and missing.json() == {"error": {"code": "not_found", "message": "no such thing"}}
    assert broken.status_code == 500 and broken.json()["error"]["code"] == "internal_error"


def test_a_body_that_stalls_is_answered_408(monkeypatch):
    monkeypatch.setattr("ethsource.http.BODY_TIMEOUT_S", 0.05)
    app, _, _ = build("stall-test")

    async def stalled_receive():
        await asyncio.sleep(10)

    async def scenario():
        sent = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/things", "query_string": b"", "headers": []}
        await app(scope, stalled_receive, send)
        return sent

    sent = asyncio.run(scenario())
    assert sent[0]["status"] == 408 and app.in_flight == 0
    assert (b"connection", b"close") in sent[0]["headers"]  # the rest of the body may still come


def test_the_openapi_document_describes_the_api_routes_from_their_models():
    app, _, _ = build("openapi-test")
    document = app.api.openapi()
    operation = document["paths"]["/things/{address}"]["get"]
    assert operation["summary"] == "A thing"
    assert {p["name"]: p["in"] for p in operation["parameters"]} == {"address": "path", "chain_id": "query",
                                                                     "wait": "query"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Echo"}
    assert {"Echo", "SubmitRequest", "ErrorBody", "Contract"} <= set(document["components"]["schemas"])


def test_served_a_process_runs_its_checks_and_warm_up_before_a_request_and_starts_whatever_failed(caplog):
    ran = []

    def database_down():
        ran.append("database")
        raise ConnectionRefusedError()

    app = create_app("warm-up-test", settings=Settings.from_env({}), description="test",
                     health_checks={"database": database_down, "broker": lambda: ran.append("broker")},
                     warm_up=lambda: ran.append("warm-up"))

    async def start_and_stop():  # uvicorn's lifespan: startup, then the requests, then shutdown
        async with app.api.router.lifespan_context(app.api):
            return list(ran)

    with caplog.at_level(logging.WARNING, logger="ethsource.http"):
        assert asyncio.run(start_and_stop()) == ["database", "broker", "warm-up"]
    assert [r.getMessage() for r in caplog.records] == ["not warmed up: database: ConnectionRefusedError"]

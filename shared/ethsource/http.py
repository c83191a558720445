"""The ASGI application every HTTP function serves: its API routes, admission control, errors, metrics.

The API routes (POST /contracts, GET /contracts/{address}, …) are answered by `FunctionApp` itself: parse, call
the handler, send, with one admission check, one metrics update and JSON errors on the way. Everything else
(health, metrics, the OpenAPI document and its docs page, the chaos routes) is FastAPI's. Why not FastAPI for
the API too: its per-request machinery (routing, dependency solving, middleware stack, request objects) cost
more CPU than the whole rest of a submission (profiled; see docs/performance.md), and the peak is bound by CPU.
The API routes are declared with pydantic models, from which their part of the OpenAPI document is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry import propagate
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from . import chaos, jsontext
from .errors import AppError, InvalidInput, NotFound, NotReady, Unavailable
from .metrics import HTTP_DURATION, HTTP_EXCEPTIONS, HTTP_IN_FLIGHT, HTTP_REQUESTS, labelled, metrics_registry
from .models import ErrorBody, invalid_input
from .observability import REQUEST_ID, configure_logging, configure_tracing, request_id_from, tracer

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
# Requests one process holds before it answers 503 at once: batched, a function answers hundreds at a time
# within milliseconds; past that it is overloaded, and more would only wait until their callers gave up.
MAX_IN_FLIGHT = 256
BODY_TIMEOUT_S = 10.0  # a client that stalls while sending its body is answered 408 after this long

_STATUS = {InvalidInput: 422, NotFound: 404, NotReady: 409, Unavailable: 503}

ERROR_RESPONSES = {
    404: "unknown contract", 413: "body too large", 422: "invalid input",
    503: "a dependency is unavailable, or the function is overloaded",
}


@dataclass
class Answer:
    """What an API handler answers: a status, a body (bytes, or a model or dict sent as JSON), headers."""

    status: int = 200
    body: bytes | BaseModel | dict | list | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    media_type: bytes = b"application/json"

    def encoded(self) -> bytes:
        if isinstance(self.body, BaseModel):
            return self.body.model_dump_json().encode()
        if isinstance(self.body, dict | list):
            return jsontext.dumps(self.body)
        return self.body or b""


@dataclass
class ApiRequest:
    method: str
    path_params: dict[str, str]
    query: BaseModel | None
    body: bytes
    headers: list[tuple[bytes, bytes]]

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key == name), None)


Handler = Callable[[ApiRequest], Awaitable[Answer]]


@dataclass
class Route:
    method: str
    path: str  # a template: /contracts/{address}
    handler: Handler
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    body_limit: int
    responses: dict[int, tuple[type[BaseModel] | None, str]]
    media_types: dict[int, tuple[str, ...]]  # of the responses without a model
    summary: str
    pattern: re.Pattern = field(init=False)

    def __post_init__(self):
        self.pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$")


def error_body(code: str, message: str) -> bytes:
    return jsontext.dumps({"error": {"code": code, "message": message}})


def error_answer(status: int, code: str, message: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> Answer:
    return Answer(status, error_body(code, message), list(headers))


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def answer_for(exc: AppError) -> Answer:
    status = getattr(exc, "status", None) or next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
    headers = [(b"retry-after", b"5")] if status == 503 else []
    return error_answer(status, exc.code, exc.message, [*headers, *getattr(exc, "headers", ())])


class FunctionApp:
    """One HTTP function: API routes served here, the rest by `api` (FastAPI)."""

    def __init__(self, function: str, api: FastAPI, *, api_keys: tuple[str, ...] = (),
                 max_in_flight: int = MAX_IN_FLIGHT, tracing: bool = False):
        self.function, self.api, self.max_in_flight, self.tracing = function, api, max_in_flight, tracing
        self._api_keys = tuple(key.encode() for key in api_keys)
        self.routes: list[Route] = []
        self.in_flight = 0
        self._gauge_set_at, self._gauge_value = 0.0, 0
        api.openapi = self._openapi  # the API routes' operations join FastAPI's own

    def openapi(self) -> dict:
        return self.api.openapi()

    def endpoints(self) -> set[tuple[str, str]]:
        """(method, path) of every route this function answers: its API routes and FastAPI's."""
        own = {(route.method, route.path) for route in self.routes}
        return own | {(method, route.path) for route in self.api.routes if hasattr(route, "methods")
                      for method in route.methods}

    @contextlib.contextmanager
    def parked(self):
        """A request waiting for an event (a status long-poll) is not work in progress: admission ignores it."""
        self.in_flight -= 1
        try:
            yield
        finally:
            self.in_flight += 1

    def route(self, method: str, path: str, *, query: type[BaseModel] | None = None,
              body: type[BaseModel] | None = None, body_limit: int = MAX_BODY_BYTES,
              responses: dict[int, tuple[type[BaseModel] | None, str]],
              media_types: dict[int, tuple[str, ...]] | None = None):
        """An API route; its summary in the OpenAPI document is the handler's docstring."""
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, handler, query, body, body_limit, responses, media_types or {},
                                     (handler.__doc__ or "").strip()))
            self.api.openapi_schema = None
            return handler
        return register

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.api(scope, receive, send)
        path = scope["path"]
        matched = [(route, match) for route in self.routes if (match := route.pattern.match(path))]
        if not matched:
            return await self.api(scope, receive, send)
        method = scope["method"]
        for route, match in matched:
            if route.method == method or (method == "HEAD" and route.method == "GET"):  # HEAD: GET without body
                return await self._serve(route, match, scope, receive, send)
        methods = {route.method for route, _ in matched}
        allowed = ", ".join(sorted(methods | ({"HEAD"} if "GET" in methods else set())))
        await _send(send, error_answer(405, "method_not_allowed", "this route does not take that method",
                                       [(b"allow", allowed.encode())]), None)

    async def _serve(self, route: Route, match: re.Match, scope, receive, send) -> None:
        started = time.perf_counter()
        headers = scope["headers"]
        request_id = request_id_from(_header(headers, b"x-request-id"))
        token = REQUEST_ID.set(request_id)
        answer = None
        try:
            with self._span(route, scope):
                if self.in_flight >= self.max_in_flight:
                    answer = error_answer(503, "overloaded", "too many requests in progress; try again shortly",
                                          [(b"retry-after", b"1")])
                elif self._api_keys and not self._authorised(headers):
                    answer = error_answer(
                        401, "unauthorized", "this API wants a valid X-API-Key header"
                        if _header(headers, b"x-api-key") else "the X-API-Key header is missing",
                        [(b"www-authenticate", b"X-API-Key")])
                else:
                    self.in_flight += 1
                    try:
                        answer = await self._answer(route, match, scope, receive)
                    finally:
                        self.in_flight -= 1
                await _send(send, answer, request_id)
        finally:
            REQUEST_ID.reset(token)
            self._count(route, scope["method"], answer.status if answer else 500, started)

    def _span(self, route: Route, scope):
        """A server span per API request when tracing is on, continuing the caller's trace (W3C headers)."""
        if not self.tracing:
            return contextlib.nullcontext()
        carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        return tracer.start_as_current_span(f"{scope['method']} {route.path}", context=propagate.extract(carrier),
                                            kind=SpanKind.SERVER, attributes={"http.route": route.path})

    async def _answer(self, route: Route, match: re.Match, scope, receive) -> Answer:
        try:
            body = b""
            if route.method in ("POST", "PUT"):
                # A body on its way is not work in progress: a client stalling it holds no admission slot.
                self.in_flight -= 1
                try:
                    body = await _read_body(receive, _header(scope["headers"], b"content-length"), route.body_limit)
                finally:
                    self.in_flight += 1
            query = _parse_query(route.query, scope["query_string"]) if route.query else None
            path_params = {name: unquote(value) for name, value in match.groupdict().items()}
            return await route.handler(ApiRequest(scope["method"], path_params, query, body, scope["headers"]))
        except AppError as exc:
            return answer_for(exc)
        except ValidationError as exc:
            return answer_for(invalid_input(exc))
        except Exception:
            HTTP_EXCEPTIONS.labels(self.function, route.path).inc()
            log.exception("unhandled error", extra={"route": route.path})
            return error_answer(500, "internal_error", "an unexpected error occurred; it has been logged")

    def _authorised(self, headers) -> bool:
        given = _header(headers, b"x-api-key") or b""
        # Compared with every key in constant time, so the answer's timing says nothing about a key.
        return any([hmac.compare_digest(given, key) for key in self._api_keys])

    def _count(self, route: Route, method: str, status: int, started: float) -> None:
        """Counted on the labelled children kept (metrics.labelled): `labels()` is a good part of the cost."""
        labelled(HTTP_REQUESTS, self.function, route.path, method, str(status)).inc()
        now = time.perf_counter()
        labelled(HTTP_DURATION, self.function, route.path, method).observe(now - started)
        # The in-flight gauge, twice a second rather than twice a request, and at once when the function falls
        # idle: set only now and then, it kept whatever the last set saw when the traffic stopped.
        if self.in_flight != self._gauge_value and (self.in_flight == 0 or now - self._gauge_set_at > 0.5):
            self._gauge_set_at, self._gauge_value = now, self.in_flight
            HTTP_IN_FLIGHT.labels(self.function).set(self.in_flight)

    def _openapi(self) -> dict:
        if self.api.openapi_schema:
            return self.api.openapi_schema
        document = FastAPI.openapi(self.api)
        models = {model for route in self.routes for model in (route.body, *(m for m, _ in route.responses.values()))
                  if model is not None}
        _, schemas = models_json_schema([(model, "serialization") for model in models] + [
            (route.body, "validation") for route in self.routes if route.body],
            ref_template="#/components/schemas/{model}")
        document.setdefault("components", {}).setdefault("schemas", {}).update(schemas.get("$defs", {}))
        for route in self.routes:
            document["paths"].setdefault(route.path, {})[route.method.lower()] = _operation(route)
        self.api.openapi_schema = document
        return document


def create_app(function: str, *, health_checks: dict[str, Callable[[], None]], description: str,
               settings, warm_up: Callable[[], None] | None = None) -> FunctionApp:
    """The function's app: FastAPI for health, metrics and the API description, the API routes added after.

    Served (uvicorn's lifespan), each process runs its health checks and `warm_up` before it takes a request, so
    that its connections are open and its lazy work done when the first requests come: done by the first ones
    instead, a process started into a peak answered its first second slowly (docs/performance.md). A failure there
    is logged and the process serves anyway, as before.
    """

    @contextlib.asynccontextmanager
    async def warmed(_api):
        failed = _failed_checks({**health_checks, "warm-up": warm_up} if warm_up else health_checks)
        for name, why in failed.items():
            log.warning("not warmed up: %s: %s", name, why)
        yield

    # FastAPI's own telemetry off: tracing is ours and metrics are Prometheus's; left on, it looks up the OTel
    # providers on every request.
    api = FastAPI(title=f"ethsource {function}", version="0.1.0", description=description, lifespan=warmed,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    configure_logging(function, settings.log_level)
    # Work on a thread beside the event loop (a download's, the scanner's database work) gets the GIL back soon
    # after its I/O returns, rather than up to 5 ms later each time (measured when submit's batches ran on a
    # thread: 4 146 against 3 313 submissions/s; see docs/performance.md).
    sys.setswitchinterval(0.0005)
    tracing = configure_tracing(function, settings.otel_exporter_otlp_endpoint)

    @api.exception_handler(AppError)
    async def app_error(request, exc: AppError):
        answer = answer_for(exc)
        return Response(answer.encoded(), answer.status, {k.decode(): v.decode() for k, v in answer.headers},
                        media_type="application/json")

    @api.exception_handler(RequestValidationError)
    async def invalid_request(request, exc: RequestValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query")) or "request"
        return error_response(422, "invalid_request", f"{where}: {first.get('msg')}")

    @api.exception_handler(404)
    async def not_found(request, exc):
        return error_response(404, "not_found", "no route for this path; see /openapi.json")

    @api.exception_handler(405)
    async def method_not_allowed(request, exc):
        return error_response(405, "method_not_allowed", "this route does not take that method",
                              getattr(exc, "headers", None))

    @api.get("/healthz", tags=["operations"], responses={503: {"model": ErrorBody}})
    def healthz():
        """Readiness of this function's dependencies: 200 only when each answers."""
        if failed := _failed_checks(health_checks):
            return error_response(503, "unhealthy", "; ".join(f"{k}: {v}" for k, v in failed.items()))
        return {"status": "ok", "checks": {name: "ok" for name in health_checks}}

    # The probes OpenFaaS (and the Knative manifests) use: alive means the process answers, whatever its load
    # or its dependencies, so a database outage takes instances out of rotation (ready) without restarting them.
    @api.get("/_/health", include_in_schema=False)
    async def platform_health():
        return {"status": "ok"}

    @api.get("/_/ready", include_in_schema=False)
    def platform_ready():
        return healthz()

    @api.get("/metrics", tags=["operations"], response_class=Response)
    def metrics():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)

    if settings.chaos_endpoints:
        api.include_router(chaos.router)
    api.add_middleware(UnexpectedErrorMiddleware, function=function)
    api.add_middleware(RequestIdMiddleware)
    return FunctionApp(function, api, api_keys=settings.api_keys, tracing=tracing)


def _failed_checks(checks: dict[str, Callable[[], None]]) -> dict[str, str]:
    """Each check that raised, with what it said: a check reports any failure, it never raises."""
    failed = {}
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - whatever failed is reported
            failed[name] = getattr(exc, "message", type(exc).__name__)
    return failed


class RequestIdMiddleware:
    """FastAPI's routes (health, metrics, pushed scan messages, sweep's POST) take or make a request id as the API
    routes do: on every log line written while answering, and in the answer's X-Request-ID."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = request_id_from(_header(scope["headers"], b"x-request-id"))
        token = REQUEST_ID.set(request_id)

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


class UnexpectedErrorMiddleware:
    """FastAPI's routes (health, metrics, chaos): an unexpected error gets a logged, counted 500, and the connection
    stays open.

    Not an exception handler: Starlette runs a handler of `Exception` in its outermost middleware and then raises
    the error again to the server, and uvicorn closes the connection when an error reaches it. Behind the
    gateway's pooled upstream connections, the next request sent on that connection was reset and its caller
    got a 503 (seen in a load run).
    """

    def __init__(self, app, function: str):
        self.app, self.function = app, function

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_and_note(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_EXCEPTIONS.labels(self.function, route).inc()
            log.exception("unhandled error", extra={"route": route})
            if started:  # too late for a 500: the server ends the answer
                raise
            await _send(send, error_answer(500, "internal_error", "an unexpected error occurred; it has been logged"),
                        None)


def _operation(route: Route) -> dict:
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "title": name.title()}}
                  for name in route.pattern.groupindex]
    if route.query:
        schema = route.query.model_json_schema()
        for name, field_info in route.query.model_fields.items():
            parameters.append({"name": name, "in": "query", "required": field_info.is_required(),
                               "schema": schema["properties"][name]})
    responses = {}
    for status, (model, description) in {**route.responses, **{
            code: (ErrorBody, text) for code, text in ERROR_RESPONSES.items() if code not in route.responses}}.items():
        responses[str(status)] = {"description": description}
        if model is not None:
            responses[str(status)]["content"] = {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
        elif status in route.media_types:
            responses[str(status)]["content"] = {media_type: {} for media_type in route.media_types[status]}
    operation = {"tags": ["contracts"], "summary": route.summary, "parameters": parameters, "responses": responses,
                 "operationId": f"{route.handler.__name__}_{route.method.lower()}"}
    if route.body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{route.body.__name__}"}}}}
    return operation


def _header(headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


async def _read_body(receive, declared: bytes | None, limit: int) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestRefused(413, "body_too_large", f"request body is larger than {limit} bytes")
    chunks, size, more = [], 0, True
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise RequestRefused(400, "client_disconnected", "the client went away while sending its body")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise RequestRefused(413, "body_too_large", f"request body is larger than {limit} bytes")
                chunks.append(chunk)
                more = message.get("more_body", False)
    except TimeoutError:
        # The rest of the body may still come: the server closes the connection after this answer.
        raise RequestRefused(408, "request_timeout", f"the request body did not arrive within {BODY_TIMEOUT_S:g} s",
                             [(b"connection", b"close")]) from None
    return b"".join(chunks)


class RequestRefused(AppError):
    """The request itself cannot be taken: too large, too slow, cut off."""

    def __init__(self, status: int, code: str, message: str, headers: Sequence[tuple[bytes, bytes]] = ()):
        super().__init__(message, code)
        self.status, self.headers = status, headers


def _parse_query(model: type[BaseModel], raw: bytes) -> BaseModel:
    """One value per parameter: a parameter given twice is refused, not silently taken from its last copy."""
    values: dict[str, str] = {}
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if name in values:
            raise InvalidInput(f"{name}: given more than once", "invalid_request")
        values[name] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid_input(exc) from None


async def _send(send, answer: Answer, request_id: str | None) -> None:
    body = answer.encoded()
    headers = [(b"content-type", answer.media_type), (b"content-length", str(len(body)).encode()), *answer.headers]
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

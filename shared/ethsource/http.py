"""The FastAPI application every HTTP function starts from: errors, health, metrics, limits."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from . import chaos
from .config import get_settings
from .errors import AppError, InvalidInput, NotFound, NotReady, Unavailable
from .models import ErrorBody
from .observability import (
    HTTP_EXCEPTIONS,
    HttpMetricsMiddleware,
    configure_logging,
    configure_tracing,
    metrics_registry,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
# Requests one process holds at once before it answers 503 at once: batched, a function answers hundreds at a
# time within milliseconds; past that it is overloaded, and more would only wait until their callers gave up.
MAX_IN_FLIGHT = 512

_STATUS = {InvalidInput: 422, NotFound: 404, NotReady: 409, Unavailable: 503}
# pydantic error types that deserve a clearer code than "invalid_request"
_VALIDATION_CODES = {"json_invalid": "invalid_json", "extra_forbidden": "unknown_field", "missing": "missing_field"}

ERROR_RESPONSES = {
    status: {"model": ErrorBody, "description": description}
    for status, description in ((404, "unknown contract"), (413, "body too large"),
                                (422, "invalid input"),
                                (503, "a dependency is unavailable, or the function is overloaded"))
}


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def create_app(function: str, *, health_checks: dict[str, Callable[[], None]], description: str) -> FastAPI:
    configure_logging(function)
    # FastAPI's own telemetry off: tracing is ours (below) and metrics are Prometheus's; left on, it looks up
    # the OTel providers on every request (about 5 % of submit's CPU).
    app = FastAPI(title=f"ethsource {function}", version="0.1.0", description=description,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    if configure_tracing(function):
        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,metrics,_/health,_/ready",
                                           exclude_spans=["receive", "send"])

    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError):
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
        return error_response(status, exc.code, exc.message, {"Retry-After": "5"} if status == 503 else None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
        code = _VALIDATION_CODES.get(first.get("type"), "invalid_request")
        return error_response(422, code, f"{where}: {first.get('msg')}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if exc.status_code == 400:  # FastAPI's answer to a body it cannot decode (e.g. not UTF-8)
            return error_response(422, "invalid_json", f"body: {exc.detail}")
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.get("/healthz", tags=["operations"], responses={503: {"model": ErrorBody}})
    def healthz():
        """Liveness: answers 200 only when this function's own dependencies answer."""
        failed = {}
        for name, check in health_checks.items():
            try:
                check()
            except Exception as exc:  # a health check reports any failure, it never raises
                failed[name] = getattr(exc, "message", type(exc).__name__)
        if failed:
            return error_response(503, "unhealthy", "; ".join(f"{k}: {v}" for k, v in failed.items()))
        return {"status": "ok", "checks": {name: "ok" for name in health_checks}}

    # The probes OpenFaaS (and the Knative manifests) use: alive means the process answers, so a database
    # outage takes instances out of rotation (ready) without restarting them (health).
    @app.get("/_/health", include_in_schema=False)
    def platform_health():
        return {"status": "ok"}

    @app.get("/_/ready", include_in_schema=False)
    def platform_ready():
        return healthz()

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def metrics():
        return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)

    if get_settings().chaos_endpoints:
        app.include_router(chaos.router)

    app.add_middleware(UnexpectedErrorMiddleware, function=function)
    app.add_middleware(ApiKeyMiddleware)
    app.add_middleware(LoadSheddingMiddleware, limit=MAX_IN_FLIGHT)
    app.add_middleware(HttpMetricsMiddleware, function=function)
    app.add_middleware(BodyLimitMiddleware, limit=MAX_BODY_BYTES)
    return app


class UnexpectedErrorMiddleware:
    """Answers an unexpected error with a logged, counted 500, and keeps the connection.

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
            response = error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
            await response(scope, receive, send)


class ApiKeyMiddleware:
    """With API_KEYS set, every route but health, metrics and the API description wants an `X-API-Key` header."""

    OPEN_PATHS = ("/healthz", "/metrics", "/_/health", "/_/ready", "/openapi.json", "/docs")

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        keys = get_settings().api_keys
        if scope["type"] != "http" or not keys or scope["path"] in self.OPEN_PATHS:
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"x-api-key", b"")
        # Compare with every key in constant time, so the answer's timing says nothing about a key.
        if not any(hmac.compare_digest(given, key.encode()) for key in keys):
            message = "this API wants a valid X-API-Key header" if given else "the X-API-Key header is missing"
            response = error_response(401, "unauthorized", message, {"WWW-Authenticate": "X-API-Key"})
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


class LoadSheddingMiddleware:
    """Answers 503 with Retry-After, without queuing it, a request that finds `limit` others in hand.

    An overloaded function otherwise keeps accepting: each request waits longer than the last, callers time
    out and retry, and the process holds them all (memory grew without bound under a backlog of polls).
    Liveness and metrics stay answered, so an overloaded instance is neither restarted nor unobserved.
    """

    EXEMPT_PATHS = ("/_/health", "/metrics")

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit
        self.in_flight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.EXEMPT_PATHS:
            return await self.app(scope, receive, send)
        if self.in_flight >= self.limit:
            response = error_response(503, "overloaded", "too many requests in progress; try again shortly",
                                      {"Retry-After": "1"})
            return await response(scope, receive, send)
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413, whether announced by Content-Length or streamed."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(send)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, f"request body is larger than {self.limit} bytes")
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, send):
        response = error_response(413, "body_too_large", f"request body is larger than {self.limit} bytes")
        await response({"type": "http"}, None, send)

"""What every HTTP service shares: the one error shape it answers with
({"code": ..., "message": ...}), and its ``/metrics`` and traces (``instrument``).

``ErrorCode`` lists the codes the services themselves give; a rejected submission answers with
the decider's ``RejectionCode`` instead (its values are codes of the same shape).
"""

import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CollectorRegistry, Histogram
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events.model import EARLIEST, LATEST
from projections.transient import describe, is_transient
from services.adapters import metrics, tracing
from services.tokens import Token, TokenCache


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN_ROLE = "forbidden_role"
    FORBIDDEN_DEPARTMENT = "forbidden_department"
    FORBIDDEN_SYSTEM_CLOCK = "forbidden_system_clock"
    """403: a department token submitted as the system clock (role ``system`` or officer
    ``system-clock``), which alone records deadline warnings and breaches, on any case."""
    UNKNOWN_CASE = "unknown_case"
    """404: no such case, or one the caller may not read (the same answer for both)."""
    UNKNOWN_OFFICER = "unknown_officer"
    """404: no activity of this officer that the caller may read."""
    UNKNOWN_SUBMISSION = "unknown_submission"
    """404: no outcome seen for this submission, or one another department submitted."""
    INVALID_CURSOR = "invalid_cursor"
    INVALID_INSTANT = "invalid_instant"
    INVALID_DIMENSION = "invalid_dimension"
    INVALID_PAYLOAD = "invalid_payload"
    MISSING_FIELD = "missing_field"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    HTTP_ERROR = "http_error"
    EXPORT_TOO_LARGE = "export_too_large"
    """422: more cases match than one export holds (CASETRAIL_EXPORT_MAX_ROWS)."""
    FONT_UNAVAILABLE = "font_unavailable"
    """503: the query service has no CJK font to embed in a case file (PDF)."""
    DATABASE_UNAVAILABLE = "database_unavailable"
    """503: PostgreSQL does not answer (down, restarting, out of connections); try again."""
    KAFKA_UNAVAILABLE = "kafka_unavailable"
    """503: the gateway cannot reach Kafka; resend the same submission (same submission_id)."""
    SUITE_MISMATCH = "suite_mismatch"
    """503: the log is of another cryptographic suite than the service is set to
    (CASETRAIL_CRYPTO_SUITE): it would check every hash with the wrong algorithm."""
    OVERLOADED = "overloaded"
    """503: the gateway has as many submissions under way as it takes; nothing was published:
    resend the same submission (same submission_id) after ``Retry-After`` seconds."""


class ErrorBody(BaseModel):
    code: str
    message: str
    errors: list[dict[str, Any]] | None = None


ANSWERS = {
    400: "请求内容无法读取 / The body cannot be read (not JSON in UTF-8): invalid_payload",
    401: "没有有效令牌 / No valid token: unauthenticated",
    403: "此令牌不可 / Not for this token: forbidden_role, forbidden_department, …",
    404: "不存在（或不可见）/ Not found (or not for this token)",
    409: "与案件现状冲突 / In conflict with the case as it stands",
    413: "请求内容过大 / Body too large: payload_too_large",
    415: "只收 JSON / Not JSON: unsupported_media_type",
    422: "请求不合规 / Invalid request: invalid_payload, missing_field, … with the errors",
    503: "暂不可用，请稍后重试 / Unavailable for a while: retry after Retry-After seconds",
}
"""What each refusal means, for the OpenAPI documents: every one has the ``ErrorBody`` shape."""


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of an endpoint's refusals (``ANSWERS``), so that the document
    lists every status it can answer."""
    return {status: {"model": ErrorBody, "description": ANSWERS[status]} for status in statuses}


# --- the text and instants a request may carry -------------------------------------------------

NO_NUL = "^[^\\x00]*$"
"""A pattern, for the OpenAPI documents: text without the NUL character."""

TEXT_MAX = 200
"""The longest text a filter takes (a department, an officer id, a status): longer is no value
any case has, and is refused before it costs a query."""


def storable(text: str) -> str:
    """Text PostgreSQL can hold: it refuses the NUL character in any text (a request carrying one
    was a server error), and a lone surrogate (JSON's "\\ud800") is no UTF-8 at all."""
    if "\x00" in text:
        raise ValueError("不能含有 NUL 字符 / must not contain the NUL character (U+0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("不是有效的 Unicode 文本 / not Unicode text (a lone surrogate)") from None
    return text


StorableText = Annotated[
    str, AfterValidator(storable), Field(json_schema_extra={"pattern": NO_NUL})
]
"""Any text a request hands to PostgreSQL: a 422 for what it cannot hold, not a 500."""
Text = Annotated[StorableText, Field(max_length=TEXT_MAX)]
"""A filter's text: storable, and at most ``TEXT_MAX`` characters."""


def _iso_8601(value: Any) -> Any:
    # pydantic takes a number as seconds since 1970 too ("0", "-4800", "+0.0"); the API speaks
    # ISO 8601 only.
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                "不是 ISO 8601 时间 / not an ISO 8601 instant, e.g. 2020-03-04T09:30:00+08:00"
            ) from None
    return value


def _in_range(moment: datetime) -> datetime:
    # Any instant PostgreSQL is asked about converts to UTC (year 1 at +14:00 overflows).
    try:
        utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc.year < LATEST:
        raise ValueError(f"时间超出范围 / instant out of range: years {EARLIEST} to {LATEST - 1}")
    return moment


Instant = Annotated[datetime, BeforeValidator(_iso_8601), AfterValidator(_in_range)]
"""An instant a request gives (ISO 8601, its offset recommended), within the years the service
counts."""


class ApiError(Exception):
    """An HTTP error with a stable code, raised anywhere in a request."""

    def __init__(self, status: int, code: ErrorCode, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


RETRY_AFTER_S = 5
"""What a 503 (``database_unavailable``, ``kafka_unavailable``) asks the client to wait before
trying again."""


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body = {"code": code, "message": message, **extra}
    return JSONResponse(status_code=status, content=body)


def database_unavailable(message: str) -> ApiError:
    """The 503 for a request that needs PostgreSQL while it does not answer."""
    return ApiError(503, ErrorCode.DATABASE_UNAVAILABLE, message)


async def authenticated(tokens: TokenCache, authorization: str | None) -> Token:
    """The live token an ``Authorization: Bearer …`` header presents; 401 otherwise."""
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise ApiError(401, ErrorCode.UNAUTHENTICATED, "send 'Authorization: Bearer <token>'")
    token = await tokens.holder(secret)
    if token is None:
        raise ApiError(401, ErrorCode.UNAUTHENTICATED, "unknown or revoked token")
    return token


def install_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(part) for part in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        missing = all(e["type"] == "missing" for e in errors)
        code = ErrorCode.MISSING_FIELD if missing else ErrorCode.INVALID_PAYLOAD
        return error_response(422, code, summary, errors=errors)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        response = error_response(exc.status, exc.code, exc.message)
        if exc.code in (ErrorCode.DATABASE_UNAVAILABLE, ErrorCode.KAFKA_UNAVAILABLE):
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    # A request whose database call failed for a reason that passes (PostgreSQL down, restarting,
    # the connection lost) gets a 503 it may retry; any other error stays the 500 it is.
    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        if not is_transient(exc):
            raise exc
        return await api_error(request, database_unavailable(f"PostgreSQL: {describe(exc)}"))

    for error_class in (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        app.add_exception_handler(error_class, database_error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's only 400: a body it could not read as JSON (not UTF-8, say), the
            # submission's problem as malformed JSON is.
            return error_response(
                400,
                ErrorCode.INVALID_PAYLOAD,
                "请求内容无法读取，请以 UTF-8 编码的 JSON 发送 / the body cannot be read: send JSON"
                f" in UTF-8 ({exc.detail})",
            )
        code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}.get(
            exc.status_code, ErrorCode.HTTP_ERROR
        )
        return error_response(exc.status_code, code, str(exc.detail))

    app.add_middleware(BodyLimit, max_body_bytes=max_body_bytes)


class BodyLimit:
    """413 ``payload_too_large`` for a request body over ``max_body_bytes``, read or not.

    A declared ``Content-Length`` over the limit is refused before a byte of the body is read.
    A body without one (chunked) is counted as it streams in, and cut off as soon as the count
    passes the limit: the 413 goes out at once, the rest of the body is never read (the server
    closes the connection), and the endpoint, which was still reading, is told the client went
    away; whatever it answers to that is dropped. Without this, a chunked body of any size was
    read whole, and before the token was even looked at.

    Plain ASGI, not ``BaseHTTPMiddleware``: it must stand between the server's ``receive`` and
    whatever reads the body."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._refuse(scope, receive, send)
            return
        received = 0
        cut_off = started = False

        async def counted() -> Message:
            nonlocal received, cut_off
            if cut_off:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    cut_off = True
                    if not started:
                        await self._refuse(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def unless_cut_off(message: Message) -> None:
            nonlocal started
            if cut_off:
                return  # the 413 has been answered; the endpoint's answer goes nowhere
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, unless_cut_off)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"请求内容超过 {self.max_body_bytes} 字节 / request body over"
            f" {self.max_body_bytes} bytes",
        )
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


class Latency:
    """Every request's latency by route template (``handler``: the route's path, never the
    request's, so case ids make no series; ``none`` when no route matches), method and status,
    into ``metrics.HTTP_LATENCY``. Plain ASGI, reading the route the router put in the scope:
    prometheus-fastapi-instrumentator, tried first, added 135 µs to a request of 110 µs (it
    builds a Request and a Response per request, matches the routes again and gathers its
    async hooks); this adds about 10 µs (both measured in-process on the 2-core VM), and
    names the route of a request answered before routing (the gateway's shedding) too."""

    def __init__(self, app: ASGIApp, histogram: Histogram, routes: list[BaseRoute]) -> None:
        self.app, self.histogram, self.routes = app, histogram, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            handler = self._handler(scope)
            if handler != "/metrics":
                self.histogram.labels(handler, scope["method"], str(status)).observe(
                    time.perf_counter() - began
                )

    def _handler(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            # Answered before routing (the gateway's shedding, a 415): which route it was for.
            route = next((r for r in self.routes if r.matches(scope)[0] is Match.FULL), None)
        path = getattr(route, "path", None)
        return path if isinstance(path, str) else "none"


def instrument(app: FastAPI, registry: CollectorRegistry) -> None:
    """``GET /metrics`` (left out of the OpenAPI document: it is Prometheus's, not a client's)
    with ``registry``, and every request's latency (``Latency``); with traces on, a span per
    request (OpenTelemetry's FastAPI instrumentation). Call it after the app's own middleware:
    outside them, it also times what they answer (the gateway's shedding, 415s)."""
    latency = Histogram(
        metrics.HTTP_LATENCY,
        "HTTP requests by route template (handler), method and status",
        ["handler", "method", "status"],
        buckets=metrics.LATENCY_BUCKETS,
        registry=registry,
    )
    app.add_middleware(Latency, histogram=latency, routes=app.router.routes)
    if tracing.enabled():
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=tracing.provider(),
            excluded_urls="/metrics,/health",
            exclude_spans=["receive", "send"],
        )

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(registry), media_type=metrics.CONTENT_TYPE)

"""The one error shape every HTTP service answers with: {"code": ..., "message": ...}."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response


class ErrorBody(BaseModel):
    code: str
    message: str
    errors: list[dict[str, Any]] | None = None


class ApiError(Exception):
    """An HTTP error with a stable code, raised anywhere in a request."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body = {"code": code, "message": message, **extra}
    return JSONResponse(status_code=status, content=body)


def install_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(part) for part in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        missing = all(e["type"] == "missing" for e in errors)
        code = "missing_field" if missing else "invalid_payload"
        return error_response(422, code, summary, errors=errors)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    class BodyLimit(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
                return error_response(
                    413, "payload_too_large", f"request body over {max_body_bytes} bytes"
                )
            return await call_next(request)

    app.add_middleware(BodyLimit)

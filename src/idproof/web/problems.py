"""RFC 9457 problem+json responses and the exception handlers that produce them."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from idproof.core.errors import IdproofError
from idproof.crypto.errors import CryptoError

PROBLEM = "application/problem+json"
log = structlog.get_logger("idproof.web")

_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_failed",
    429: "rate_limited", 500: "internal_error", 503: "unavailable",
}
_TITLES = {
    400: "Bad request", 401: "Authentication required", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Payload too large",
    415: "Unsupported media type", 422: "The request is not valid", 429: "Too many requests",
    500: "Internal error", 503: "Service unavailable",
}


def problem(status: int, code: str | None = None, detail: str | None = None, *,
            title: str | None = None, headers: dict[str, str] | None = None,
            request_id: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://idproof.dev/problems/{code or _HTTP_CODES.get(status, 'error')}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "code": code or _HTTP_CODES.get(status, "error"),
    }
    if detail:
        body["detail"] = detail
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def _rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(IdproofError)
    async def _domain(request: Request, exc: IdproofError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.detail, title=exc.title, headers=exc.headers,
                       request_id=_rid(request), **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Echo where and why, never the submitted value (it may be personal data).
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "type": e.get("type"),
                   "msg": e.get("msg")} for e in exc.errors()]
        return problem(422, "validation_failed", "the request is not valid",
                       request_id=_rid(request), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem(exc.status_code, None, detail, headers=getattr(exc, "headers", None),
                       request_id=_rid(request))

    @app.exception_handler(CryptoError)
    async def _crypto(request: Request, exc: CryptoError) -> JSONResponse:
        # Key ids and row context go to the operator's log; the client learns nothing.
        log.error("crypto_error", error_type=type(exc).__name__, error=str(exc))
        return problem(500, "internal_error", "an internal error occurred",
                       request_id=_rid(request))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", error_type=type(exc).__name__)
        return problem(500, "internal_error", "an internal error occurred",
                       request_id=_rid(request))

"""Edge middlewares that refuse a request before the app sees it: IP block, limits, body size."""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idproof.security.brute_force import BruteForceGuard
from idproof.security.route_limits import RouteLimits
from idproof.web.edge_context import all_headers, edge_headers

# Where an IP blocked for failed client authentications is refused: the routes that take
# client credentials or tokens. Health checks and the hosted pages stay open, since end users
# and load balancers may share the blocked address.
_BLOCKABLE_PREFIXES = ("/oauth", "/v1")
# Capture uploads (images, liveness frames) get the larger upload limit.
_UPLOAD_PATH = re.compile(r"^/(v1/sessions/[^/]+|verify/[^/]+)/(documents|selfie|liveness)$")


class BodyTooLarge(Exception):
    """A chunked body went past the limit (no Content-Length to refuse it up front)."""


def problem_bytes(status: int, code: str, title: str, detail: str, rid: str) -> bytes:
    return json.dumps({"type": f"https://idproof.dev/problems/{code}", "title": title,
                       "status": status, "code": code, "detail": detail,
                       "request_id": rid}).encode()


async def reject(scope: Scope, send: Send, status: int, code: str, title: str, detail: str,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer a problem+json refusal without calling the app."""
    body = problem_bytes(status, code, title, detail,
                         scope.get("state", {}).get("request_id", ""))
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def body_limit_refusal(declared: str | None, limit: int) -> tuple[int, str, str] | None:
    """(status, code, detail) when a declared Content-Length is refused, else None: pure."""
    if declared is None:
        return None
    if not declared.isdigit():
        return 400, "bad_request", "invalid Content-Length"
    if int(declared) > limit:
        return 413, "payload_too_large", "the request body is too large"
    return None


class IpBlockMiddleware:
    """Refuses an address blocked for failed client authentications on the API routes."""

    def __init__(self, app: ASGIApp, *, guard: BruteForceGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(_BLOCKABLE_PREFIXES):
            ip = scope["state"]["client_ip"]
            retry = await self.guard.retry_after_async(ip)
            if retry is not None:
                if path.startswith("/oauth/"):
                    self.guard.refused_attempt(ip)  # still an attempt, for the detectors
                await reject(scope, send, 429, "ip_blocked", "Too many requests",
                             "too many failed authentications from this address",
                             [(b"retry-after", str(retry).encode())])
                return
        await self.app(scope, receive, send)


class EdgeRateLimitMiddleware:
    """The route limits counted before authentication: per IP, session, hosted link, operator."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits = _route_limits(scope) if scope["type"] == "http" else None
        if limits is not None and limits.limiter.enabled:
            state = scope["state"]
            limited = limits.at_edge(scope.get("path", ""), all_headers(scope),
                                     state["client_ip"], state["request_id"])
            if limited is not None:
                await reject(scope, send, 429, "rate_limited", "Too many requests",
                             "too many requests; retry after the given time", limited)
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses a body over the limit: by its Content-Length up front, else while it streams."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_upload if _UPLOAD_PATH.match(scope.get("path", "")) else self.max_body
        refused = body_limit_refusal(edge_headers(scope).get("content-length"), limit)
        if refused is not None:
            status, code, detail = refused
            title = "Bad request" if status == 400 else "Payload too large"
            await reject(scope, send, status, code, title, detail)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        await self.app(scope, limited, send)


def _route_limits(scope: Scope) -> RouteLimits | None:
    container = getattr(getattr(scope.get("app"), "state", None), "container", None)
    return getattr(container, "route_limits", None)

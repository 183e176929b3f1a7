"""The edge: one pure-ASGI middleware that every HTTP request goes through, in one place.

One layer rather than a stack of six: each layer of a stack is a coroutine call and each
wrapper of `send` another on every request, and this is on every request's path. In order:
request context (id, client IP, TLS; the request id bound to the log context), then the
refusals (IP block, edge rate limits, body limit), then the app, or a direct route
(`edge_direct.py`). One `send` wrapper adds the security headers (and any `RateLimit`
headers a route left in the state) and notes the final status for the access log and the
metrics. The parts are pure functions in `edge_context.py`, `edge_headers.py` and
`edge_guards.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idproof.security.brute_force import BruteForceGuard
from idproof.web.edge_context import edge_headers, log_access, request_identity
from idproof.web.edge_direct import DirectRoutes, serve_direct
from idproof.web.edge_guards import (
    BodyTooLarge,
    body_limit,
    body_refused,
    ip_blocked,
    limited_receive,
    rate_limited,
    route_limits,
)
from idproof.web.edge_headers import with_security_headers


class EdgeMiddleware:
    """The whole edge, added to the app as one middleware."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: tuple[str, ...],
                 max_body_bytes: int, guard: BruteForceGuard, hsts: bool = False,
                 public_https: bool = False, max_upload_bytes: int = 25 * 1024 * 1024,
                 on_response: Callable[[int], None] | None = None,
                 direct_routes: DirectRoutes | None = None) -> None:
        self.app = app
        self.trusted = trusted_proxies
        self.public_https = public_https
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes
        self.guard = guard
        self.hsts = hsts
        self.on_response = on_response
        self.direct: DirectRoutes = direct_routes or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        client = scope.get("client")
        rid, ip, tls = request_identity(edge_headers(scope), client[0] if client else None,
                                        scope.get("scheme"), self.trusted, self.public_https)
        state = scope["state"]  # edge_headers made sure there is one
        state["request_id"], state["client_ip"], state["tls"] = rid, ip, tls
        path: str = scope.get("path", "")
        hsts = self.hsts and tls
        status = 500  # what the client gets when the app raises before answering

        async def send_edge(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = with_security_headers(
                    list(message.get("headers", ())), path=path, rid=rid, hsts=hsts,
                    extra=state.get("ratelimit_headers"))
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            await self._serve(scope, receive, send_edge, path, ip, rid)
        finally:
            if self.on_response is not None:
                self.on_response(status)
            log_access(scope, status, started)
            structlog.contextvars.reset_contextvars(**tokens)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, path: str, ip: str,
                     rid: str) -> None:
        """The refusals, then the request's route."""
        if await ip_blocked(self.guard, scope, send, path, ip):
            return
        limits = route_limits(scope)
        if (limits is not None and limits.limiter.enabled
                and await rate_limited(limits, scope, send, path, ip, rid)):
            return
        limit = body_limit(path, self.max_body, self.max_upload)
        if await body_refused(scope, send, limit):
            return
        receive = limited_receive(receive, limit)
        endpoint = (self.direct.get((scope.get("method", ""), path))
                    if not scope.get("root_path") else None)
        if endpoint is not None:
            await serve_direct(endpoint, scope, receive, send)
        else:
            await self.app(scope, receive, send)


def body_too_large_handler(_request: Any, _exc: Exception) -> Any:
    from idproof.web.problems import problem

    return problem(413, "payload_too_large", "the request body is too large")


__all__ = ["BodyTooLarge", "EdgeMiddleware", "body_too_large_handler"]

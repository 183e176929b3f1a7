"""The edge: a stack of small pure-ASGI middlewares, each with one job, built in one place.

Raw ASGI rather than BaseHTTPMiddleware: it is on every request's path and the plain form
costs a fraction of the time. Outermost first: request context (id, client IP, TLS), access
log and metrics, security headers, IP block, edge rate limits, body limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from idproof.security.brute_force import BruteForceGuard
from idproof.web.edge_context import AccessLogMiddleware, RequestContextMiddleware
from idproof.web.edge_guards import (
    BodyLimitMiddleware,
    BodyTooLarge,
    EdgeRateLimitMiddleware,
    IpBlockMiddleware,
)
from idproof.web.edge_headers import SecurityHeadersMiddleware


class EdgeMiddleware:
    """The whole edge stack, added to the app as one middleware."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: tuple[str, ...],
                 max_body_bytes: int, guard: BruteForceGuard, hsts: bool = False,
                 public_https: bool = False, max_upload_bytes: int = 25 * 1024 * 1024,
                 on_response: Callable[[int], None] | None = None) -> None:
        inner: ASGIApp = BodyLimitMiddleware(app, max_body_bytes=max_body_bytes,
                                             max_upload_bytes=max_upload_bytes)
        inner = EdgeRateLimitMiddleware(inner)
        inner = IpBlockMiddleware(inner, guard=guard)
        inner = SecurityHeadersMiddleware(inner, hsts=hsts)
        inner = AccessLogMiddleware(inner, on_response=on_response)
        self.app = RequestContextMiddleware(inner, trusted_proxies=trusted_proxies,
                                            public_https=public_https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def body_too_large_handler(_request: Any, _exc: Exception) -> Any:
    from idproof.web.problems import problem

    return problem(413, "payload_too_large", "the request body is too large")


__all__ = ["BodyTooLarge", "EdgeMiddleware", "body_too_large_handler"]

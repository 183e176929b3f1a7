"""Edge middlewares that describe a request: its id, client IP and TLS, and its access log."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idproof.core.ids import random_token
from idproof.core.logging import scrub_text
from idproof.security.client_ip import is_trusted_proxy, resolve_client_ip

access_log = structlog.get_logger("idproof.access")
# The stdlib logger behind `access_log`: asking it whether INFO is on is a dict lookup, while
# a structlog call at a filtered level still builds a bound logger and runs the level filter.
_access_std = logging.getLogger("idproof.access")
_RID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# The request headers the edge reads; the others are decoded only when a limit asks for them.
_WANTED = {b"x-request-id", b"x-forwarded-for", b"x-forwarded-proto", b"content-length"}


def edge_headers(scope: Scope) -> dict[str, str]:
    """The few request headers the edge middlewares read (lower-case names), decoded once."""
    state = scope.setdefault("state", {})
    cached: dict[str, str] | None = state.get("edge_headers")
    if cached is None:
        cached = {k.decode("latin-1"): v.decode("latin-1")
                  for k, v in scope.get("headers", ()) if k in _WANTED}
        state["edge_headers"] = cached
    return cached


def all_headers(scope: Scope) -> dict[str, str]:
    """Every request header, decoded (lower-case names; the last of a repeated one)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope.get("headers", ())}


def forwarded_https(value: str | None) -> bool:
    """The last hop's X-Forwarded-Proto is https (the value our own proxy wrote)."""
    return value is not None and value.split(",")[-1].strip().lower() == "https"


def request_identity(headers: dict[str, str], peer: str | None, scheme: str | None,
                     trusted: tuple[str, ...], public_https: bool) -> tuple[str, str, bool]:
    """(request id, client IP, TLS) of a request: pure, from its headers and peer address.

    An incoming X-Request-Id is kept only when well-formed. TLS is either ours (uvicorn sees
    https) or a trusted proxy's, which says so in X-Forwarded-Proto; that header from anyone
    else proves nothing, and behind a proxy it counts only with an https public URL, so a
    plain-http development setup never pins itself with HSTS.
    """
    incoming = headers.get("x-request-id", "")
    rid = incoming if _RID.match(incoming) else "req_" + random_token(12)
    ip = resolve_client_ip(peer, headers.get("x-forwarded-for"), trusted)
    tls = scheme == "https" or (public_https and forwarded_https(
        headers.get("x-forwarded-proto")) and is_trusted_proxy(peer, trusted))
    return rid, ip, tls


class RequestContextMiddleware:
    """Puts the request id, client IP and TLS flag in `scope["state"]` and the log context."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: tuple[str, ...],
                 public_https: bool) -> None:
        self.app = app
        self.trusted = trusted_proxies
        self.public_https = public_https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        rid, ip, tls = request_identity(edge_headers(scope), client[0] if client else None,
                                        scope.get("scheme"), self.trusted, self.public_https)
        state = scope["state"]
        state["request_id"], state["client_ip"], state["tls"] = rid, ip, tls
        tokens = structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            await self.app(scope, receive, send)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)


class AccessLogMiddleware:
    """One access-log line and one metrics count per HTTP request, with its final status."""

    def __init__(self, app: ASGIApp, *,
                 on_response: Callable[[int], None] | None = None) -> None:
        self.app = app
        self.on_response = on_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if self.on_response is not None:
                self.on_response(status)
            if _access_std.isEnabledFor(logging.INFO):
                state = scope.get("state", {})
                access_log.info("request", method=scope.get("method"),
                                path=scrub_text(scope.get("path", "")), status=status,
                                ip=state.get("client_ip"),
                                ms=round((time.perf_counter() - started) * 1000, 2))

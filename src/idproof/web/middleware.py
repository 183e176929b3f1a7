"""Pure ASGI middleware: request id, client IP, IP blocks, body limit, security headers, logs.

Written against raw ASGI rather than BaseHTTPMiddleware: it is on every request's path and
the plain form costs a fraction of the time.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idproof.core.ids import random_token
from idproof.security.brute_force import BruteForceGuard
from idproof.security.client_ip import is_trusted_proxy, resolve_client_ip
from idproof.security.route_limits import RouteLimits
from idproof.web.logging import scrub_text

access_log = structlog.get_logger("idproof.access")
_RID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
_NO_STORE_PREFIXES = ("/v1", "/oauth", "/.well-known/oauth")
# Where an IP blocked for failed client authentications is refused: the routes that take
# client credentials or tokens. Health checks and the hosted pages stay open, since end users
# and load balancers may share the blocked address.
_BLOCKABLE_PREFIXES = ("/oauth", "/v1")
# Capture uploads (images, liveness frames) get the larger upload limit.
_FRAME_ANCESTORS = re.compile(rb"frame-ancestors\s+([^;]*)")
_UPLOAD_PATH = re.compile(r"^/(v1/sessions/[^/]+|verify/[^/]+)/(documents|selfie|liveness)$")


def _problem_bytes(status: int, code: str, title: str, detail: str, rid: str) -> bytes:
    return json.dumps({"type": f"https://idproof.dev/problems/{code}", "title": title,
                       "status": status, "code": code, "detail": detail,
                       "request_id": rid}).encode()


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, trusted_proxies: tuple[str, ...],
                 max_body_bytes: int, guard: BruteForceGuard, hsts: bool = False,
                 public_https: bool = False, max_upload_bytes: int = 25 * 1024 * 1024,
                 on_response: Callable[[int], None] | None = None) -> None:
        self.app = app
        self.trusted = trusted_proxies
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes
        self.guard = guard
        self.hsts = hsts
        self.public_https = public_https
        self.on_response = on_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        incoming = headers.get("x-request-id", "")
        rid = incoming if _RID.match(incoming) else "req_" + random_token(12)
        client = scope.get("client")
        peer = client[0] if client else None
        ip = resolve_client_ip(peer, headers.get("x-forwarded-for"), self.trusted)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["client_ip"] = ip
        path: str = scope.get("path", "")
        # TLS is either ours (uvicorn sees https) or a trusted proxy's, which says so in
        # X-Forwarded-Proto; that header from anyone else proves nothing. HSTS behind a proxy
        # also needs an https public URL, so a plain-http development setup never pins itself.
        tls = scope.get("scheme") == "https" or (
            self.public_https and _forwarded_https(headers.get("x-forwarded-proto"))
            and is_trusted_proxy(peer, self.trusted))
        status_holder = {"status": 500}

        structlog.contextvars.bind_contextvars(request_id=rid)

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                raw = list(message.get("headers", []))
                names = {k.lower() for k, _ in raw}
                extra: list[tuple[bytes, bytes]] = [
                    (b"x-request-id", rid.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if _frames_refused(raw):
                    # Only where the CSP refuses framing too: DENY next to a frame-ancestors
                    # that allows an origin contradicts it (and wins in older browsers).
                    extra.append((b"x-frame-options", b"DENY"))
                if tls and self.hsts:
                    extra.append((b"strict-transport-security",
                                  b"max-age=63072000; includeSubDomains"))
                if path.startswith(_NO_STORE_PREFIXES) and b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                if b"content-security-policy" not in names:
                    extra.append((b"content-security-policy",
                                  b"default-src 'none'; frame-ancestors 'none'"))
                extra.extend(state.get("ratelimit_headers", ()))
                message["headers"] = raw + [h for h in extra if h[0] not in names]
            await send(message)

        try:
            retry = (self.guard.retry_after(ip) if path.startswith(_BLOCKABLE_PREFIXES)
                     else None)
            if retry is not None:
                if path.startswith("/oauth/"):
                    self.guard.refused_attempt(ip)  # still an attempt, for the detectors
                await self._reject(send_wrapped, 429, "ip_blocked", "Too many requests",
                                   "too many failed authentications from this address", rid,
                                   [(b"retry-after", str(retry).encode())])
                return
            # Per IP (every group), per session (uploads, OTP), per hosted link, per operator.
            limits = _route_limits(scope)
            limited = limits.at_edge(path, headers, ip, rid) if limits is not None else None
            if limited is not None:
                await self._reject(send_wrapped, 429, "rate_limited", "Too many requests",
                                   "too many requests; retry after the given time", rid,
                                   limited)
                return
            limit = self.max_upload if _UPLOAD_PATH.match(path) else self.max_body
            declared = headers.get("content-length")
            if declared is not None:
                if not declared.isdigit():
                    await self._reject(send_wrapped, 400, "bad_request", "Bad request",
                                       "invalid Content-Length", rid)
                    return
                if int(declared) > limit:
                    await self._reject(send_wrapped, 413, "payload_too_large",
                                       "Payload too large", "the request body is too large",
                                       rid)
                    return
            await self.app(scope, self._limited(receive, limit), send_wrapped)
        finally:
            if self.on_response is not None:
                self.on_response(status_holder["status"])
            access_log.info("request", method=scope.get("method"), path=scrub_text(path),
                            status=status_holder["status"], ip=ip,
                            ms=round((time.perf_counter() - started) * 1000, 2))
            structlog.contextvars.unbind_contextvars("request_id")

    def _limited(self, receive: Receive, limit: int) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        return wrapped

    async def _reject(self, send: Send, status: int, code: str, title: str, detail: str,
                      rid: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        body = _problem_bytes(status, code, title, detail, rid)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()), *(headers or [])]})
        await send({"type": "http.response.body", "body": body})


def _route_limits(scope: Scope) -> RouteLimits | None:
    container = getattr(getattr(scope.get("app"), "state", None), "container", None)
    return getattr(container, "route_limits", None)


def _forwarded_https(value: str | None) -> bool:
    # The last hop's value: the one our own proxy wrote.
    return value is not None and value.split(",")[-1].strip().lower() == "https"


def _frames_refused(headers: list[tuple[bytes, bytes]]) -> bool:
    """True unless the response's own CSP lets some origin frame it."""
    for name, value in headers:
        if name.lower() == b"content-security-policy":
            m = _FRAME_ANCESTORS.search(value)
            if m is not None and m.group(1).strip() != b"'none'":
                return False
    return True


class BodyTooLarge(Exception):
    """A chunked body went past the limit (no Content-Length to refuse it up front)."""


def body_too_large_handler(_request: Any, _exc: Exception) -> Any:
    from idproof.web.problems import problem

    return problem(413, "payload_too_large", "the request body is too large")

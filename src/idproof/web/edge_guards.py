"""The edge's refusals before the app sees a request: IP block, route limits, body size."""

from __future__ import annotations

import json
import re

import anyio.to_thread
from starlette.types import Message, Receive, Scope, Send

from idproof.security.brute_force import BruteForceGuard
from idproof.security.route_limits import RouteLimits
from idproof.web.edge_context import edge_headers

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


async def ip_blocked(guard: BruteForceGuard, scope: Scope, send: Send, path: str,
                     ip: str) -> bool:
    """Refuses (429) an address blocked for failed client authentications on the API routes;
    True when it did. The block is read without blocking the event loop, and a refused
    credential request is still an attempt for the detectors (told in a worker thread)."""
    if not path.startswith(_BLOCKABLE_PREFIXES):
        return False
    retry = await guard.retry_after_async(ip)
    if retry is None:
        return False
    if path.startswith("/oauth/"):
        await anyio.to_thread.run_sync(guard.refused_attempt, ip)
    await reject(scope, send, 429, "ip_blocked", "Too many requests",
                 "too many failed authentications from this address",
                 [(b"retry-after", str(retry).encode())])
    return True


async def rate_limited(limits: RouteLimits, scope: Scope, send: Send, path: str, ip: str,
                       rid: str) -> bool:
    """The route limits counted before authentication (per IP, session, hosted link,
    operator): refuses (429) a request over one; True when it did."""
    limited = await limits.at_edge_async(path, _cookie_header(scope), ip, rid)
    if limited is None:
        return False
    await reject(scope, send, 429, "rate_limited", "Too many requests",
                 "too many requests; retry after the given time", limited)
    return True


def _cookie_header(scope: Scope) -> dict[str, str]:
    # The only request header the edge limits read (the hosted and console sessions); the
    # last one when repeated. The others are never decoded here.
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        if name.lower() == b"cookie":
            found["cookie"] = value.decode("latin-1")
    return found


async def body_refused(scope: Scope, send: Send, limit: int) -> bool:
    """Refuses a body whose declared Content-Length is over `limit` (or not a number)."""
    refused = body_limit_refusal(edge_headers(scope).get("content-length"), limit)
    if refused is None:
        return False
    status, code, detail = refused
    title = "Bad request" if status == 400 else "Payload too large"
    await reject(scope, send, status, code, title, detail)
    return True


def body_limit(path: str, max_body: int, max_upload: int) -> int:
    """The body limit of a path: capture uploads get the larger one."""
    return max_upload if _UPLOAD_PATH.match(path) else max_body


def limited_receive(receive: Receive, limit: int) -> Receive:
    """`receive` that raises BodyTooLarge once a streamed (chunked) body passes `limit`."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge
        return message

    return limited


def route_limits(scope: Scope) -> RouteLimits | None:
    """The container's route limits, from the app the request came in through."""
    container = getattr(getattr(scope.get("app"), "state", None), "container", None)
    return getattr(container, "route_limits", None)

"""What the edge knows of a request: its id, client IP and TLS, and its access-log line."""

from __future__ import annotations

import logging
import re
import time

import structlog
from starlette.types import Scope

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


def log_access(scope: Scope, status: int, started: float) -> None:
    """The access-log line of a request (when INFO is on): method, path with any secret in
    it scrubbed, final status, client IP, milliseconds."""
    if _access_std.isEnabledFor(logging.INFO):
        state = scope.get("state", {})
        access_log.info("request", method=scope.get("method"),
                        path=scrub_text(scope.get("path", "")), status=status,
                        ip=state.get("client_ip"),
                        ms=round((time.perf_counter() - started) * 1000, 2))

"""The feature routers' request plumbing: the container, the caller's IP, and bearer-token
principals by scope (FastAPI dependencies; services never import this module)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import structlog
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from idproof.audit.events import AuditEvent
from idproof.auth.bearer import BearerRejected
from idproof.auth.mtls_request import certificate_for
from idproof.core.errors import Forbidden, TooManyRequests, Unauthorized
from idproof.core.principal import Principal

if TYPE_CHECKING:
    from idproof.bootstrap import Container

log = structlog.get_logger("idproof.auth")


def get_container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


def client_ip(request: Request) -> str:
    return getattr(request.state, "client_ip", None) or (
        request.client.host if request.client else "unknown")


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


ContainerDep = Annotated["Container", Depends(get_container)]


def _challenge(error: str | None = None, scope: str | None = None) -> dict[str, str]:
    value = 'Bearer realm="idproof"'
    if error:
        value += f', error="{error}"'
    if scope:
        value += f', scope="{scope}"'
    return {"WWW-Authenticate": value}


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None (read as FastAPI's
    HTTPBearer reads it; the OpenAPI document names the scheme in `web/openapi.py`)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme and token and scheme.lower() == "bearer" else None


async def current_principal(request: Request) -> Principal:
    """The caller of a `/v1` route: its bearer token checked, then its client's rate limit
    and its tenant's region. A FastAPI dependency, and called as is by the edge for
    `GET /v1/me` (`auth/api.py: HOT_ROUTES`)."""
    # async, so FastAPI runs it on the event loop instead of a thread-pool hop per request:
    # a valid token is checked from memory (the signature cache, the revocation and client
    # views); their refresh is one short read every fraction of a second. Refusals write an
    # audit event, so they go to a worker thread.
    container = get_container(request)
    ip = client_ip(request)
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized("a bearer token is required", code="missing_token",
                           headers=_challenge())
    try:
        cert = certificate_for(request, container.settings, container.audit)
        principal = await container.bearer.verify_async(
            token, ip, cert.x5t_s256 if cert is not None else None)
    except BearerRejected as exc:
        await run_in_threadpool(_refuse, container, request, ip, exc)
        raise AssertionError("unreachable: _refuse raises") from None
    await _rate_limit(container, request, principal, ip)
    container.residency.check(principal.tenant_id)  # 421 for another region's tenant
    return principal


def _refuse(container: Container, request: Request, ip: str, exc: BearerRejected) -> None:
    """Audit and count a refused bearer token, then raise the error the caller gets."""
    if exc.status == 403:
        _audit_refusal(container, request, ip, exc.reason)
        raise Forbidden("this client may not call from this address", code="ip_not_allowed")
    # A bad bearer token is not a brute-force signal for the IP (tokens cannot be guessed;
    # a client stuck on an expired one would block everyone behind its address): it counts
    # against the token's issuer only, and the limit refuses invalid tokens.
    hint = exc.client_hint
    issuer = (f"client:{hint}" if hint is not None and container.clients.get(hint)
              is not None else f"ip:{ip}")
    retry, started = container.guard.register_bearer_failure(issuer)
    if retry is None:
        _audit_refusal(container, request, ip, exc.reason)
        raise Unauthorized("the access token is not valid", code="invalid_token",
                           headers=_challenge("invalid_token"))
    if started:
        # One event per window, not one per request: the audit log is not a flood sink.
        container.audit.record(AuditEvent(
            action="security.bearer_throttled", outcome="failure", actor_type="client",
            actor_id=hint if issuer.startswith("client:") else None, ip=ip,
            request_id=request_id(request), details={"reason": exc.reason}))
        log.warning("bearer_throttled", ip=ip, seconds=retry)
    raise TooManyRequests("too many invalid access tokens; get a new token",
                          code="too_many_invalid_tokens",
                          headers={"Retry-After": str(retry), **_challenge("invalid_token")})


async def _rate_limit(container: Container, request: Request, principal: Principal,
                      ip: str) -> None:
    """The client's limit for this route group (its own override, else the default)."""
    limits = container.route_limits
    if not limits.limiter.enabled:
        return
    client = container.clients.get(principal.client_id)
    out = await limits.for_client_async(
        request.scope["path"], principal.client_id, principal.tenant_id,
        client.rate_limits if client is not None else (), ip, request_id(request))
    if out.allowed:
        request.state.ratelimit_headers = [(k.lower().encode(), v.encode())
                                           for k, v in out.headers]
        return
    raise TooManyRequests("too many requests for this client; retry after the given time",
                          code="rate_limited", headers=dict(out.headers))


def _audit_refusal(container: Container, request: Request, ip: str, reason: str) -> None:
    container.audit.record(AuditEvent(
        action="api.auth_refused", outcome="failure", actor_type="client", ip=ip,
        request_id=request_id(request), details={"reason": reason}))


def require_scopes(*needed: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency granting access only with every one of `needed` scopes."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        missing = [s for s in needed if s not in principal.scopes]
        if missing:
            raise Forbidden(f"this token lacks the scope {' '.join(missing)}",
                            code="insufficient_scope",
                            headers=_challenge("insufficient_scope", " ".join(needed)))
        return principal

    return check


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

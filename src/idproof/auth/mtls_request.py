"""The client certificate of an HTTP request: from the TLS connection, or from a trusted gateway."""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import Request
from starlette.types import Scope

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.auth.mtls import BadCertificate, ClientCertificate, certificate_from_header
from idproof.config import Settings
from idproof.security.client_ip import is_trusted_proxy

log = structlog.get_logger("idproof.security")
_UNSET = object()


def _from_connection(scope: Scope) -> ClientCertificate | None:
    # The ASGI TLS extension, filled in by `idproof serve --client-ca` (cli/tls.py).
    extensions = scope.get("extensions")
    tls = (extensions.get("tls") if extensions else None) or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    try:
        return ClientCertificate.from_pem(chain[0])
    except BadCertificate:
        return None


def _from_gateway(request: Request, settings: Settings,
                  state: dict[str, Any]) -> ClientCertificate | None:
    header = settings.security.mtls.client_cert_header
    if header is None:
        return None
    value = request.headers.get(header)
    if not value:
        return None
    peer = request.client.host if request.client else None
    if not is_trusted_proxy(peer, tuple(settings.security.trusted_proxies)):
        # Anyone can write a header: only the configured gateway's word counts.
        state["untrusted_cert_header"] = True
        log.warning("client_cert_header_untrusted_peer")
        return None
    try:
        return certificate_from_header(value)
    except BadCertificate:
        log.warning("client_cert_header_malformed")
        return None


def presented_certificate(request: Request, settings: Settings) -> ClientCertificate | None:
    """The certificate the caller presented, parsed once per request."""
    # The request state's own dict (what `request.state` wraps): read on every token and
    # bearer check, and a missing attribute of `State` costs an exception.
    state: dict[str, Any] = request.scope.setdefault("state", {})
    cached = state.get("client_certificate", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[no-any-return]
    cert = _from_connection(request.scope) or _from_gateway(request, settings, state)
    state["client_certificate"] = cert
    return cert


def certificate_for(request: Request, settings: Settings,
                    audit: AuditService) -> ClientCertificate | None:
    """`presented_certificate`, auditing a certificate header sent by an untrusted peer."""
    cert = presented_certificate(request, settings)
    state: dict[str, Any] = request.scope["state"]
    if state.get("untrusted_cert_header"):
        state["untrusted_cert_header"] = False  # one event per request
        audit.record(AuditEvent(
            action="security.cert_header_untrusted", outcome="failure",
            ip=request.client.host if request.client else None,
            request_id=state.get("request_id"),
            details={"header": settings.security.mtls.client_cert_header}))
    return cert

"""Registering API clients for mutual TLS and checking a presented certificate against it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.auth.models import Client
from idproof.auth.mtls import (
    SELF_SIGNED_TLS_CLIENT_AUTH,
    TLS_CLIENT_AUTH,
    ClientCertificate,
    normalise_dn,
    subject_matches,
    thumbprint_matches,
)
from idproof.auth.mtls_models import ClientTls
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import NotFound, ValidationFailed
from idproof.db.engine import Database

_THUMBPRINT = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url SHA-256, no padding


@dataclass(frozen=True, slots=True)
class TlsRegistration:
    client_id: str
    method: str
    tls_subject: str | None
    jwk_thumbprint: str | None


class ClientTlsService:
    """The one place that knows which certificate authenticates which client."""

    def __init__(self, db: Database, audit: AuditService, clock: Clock | None = None) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock or SystemClock()

    def register(self, client_id: str, *, tls_subject: str | None = None,
                 jwk_thumbprint: str | None = None, actor: str = "cli") -> TlsRegistration:
        """Register (or replace) the client's mTLS identity: exactly one of the two."""
        if (tls_subject is None) == (jwk_thumbprint is None):
            raise ValidationFailed("give either a TLS subject or a JWK thumbprint",
                                   code="invalid_tls_registration")
        if tls_subject is not None:
            method = TLS_CLIENT_AUTH
            if tls_subject.startswith("san:"):
                if not 1 <= len(tls_subject) - 4 <= 253:
                    raise ValidationFailed("the SAN value is empty or too long",
                                           code="invalid_tls_subject")
            else:
                try:
                    tls_subject = normalise_dn(tls_subject)
                except ValueError:
                    raise ValidationFailed("the TLS subject is not an RFC 4514 DN",
                                           code="invalid_tls_subject") from None
        else:
            method = SELF_SIGNED_TLS_CLIENT_AUTH
            if not _THUMBPRINT.match(jwk_thumbprint or ""):
                raise ValidationFailed("the JWK thumbprint must be a base64url SHA-256",
                                       code="invalid_jwk_thumbprint")
        with self._db.session() as s:
            if s.get(Client, client_id) is None:
                raise NotFound("no such client", code="client_not_found")
            row = s.get(ClientTls, client_id)
            if row is None:
                row = ClientTls(client_id=client_id, created_at=self._clock.now())
                s.add(row)
            row.method, row.tls_subject, row.jwk_thumbprint = method, tls_subject, jwk_thumbprint
            self._audit.record_in(s, AuditEvent(
                action="client.tls_registered", actor_type="operator", actor_id=actor,
                target_type="client", target_id=client_id, details={"method": method}))
        return TlsRegistration(client_id, method, tls_subject, jwk_thumbprint)

    def get(self, client_id: str) -> TlsRegistration | None:
        with self._db.read() as s:
            row = s.get(ClientTls, client_id)
            if row is None:
                return None
            return TlsRegistration(row.client_id, row.method, row.tls_subject,
                                   row.jwk_thumbprint)

    def check(self, client_id: str, cert: ClientCertificate) -> str | None:
        """The method by which `cert` authenticates the client, or None (also when expired)."""
        reg = self.get(client_id)
        if reg is None or not cert.valid_at(self._clock.now()):
            return None
        if reg.method == TLS_CLIENT_AUTH and reg.tls_subject is not None:
            return TLS_CLIENT_AUTH if subject_matches(cert, reg.tls_subject) else None
        if reg.method == SELF_SIGNED_TLS_CLIENT_AUTH and reg.jwk_thumbprint is not None:
            ok = thumbprint_matches(cert, reg.jwk_thumbprint)
            return SELF_SIGNED_TLS_CLIENT_AUTH if ok else None
        return None

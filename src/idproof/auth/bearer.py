"""Checking a bearer access token on an API call: signature, claims, revocation, client."""

from __future__ import annotations

from dataclasses import dataclass

from idproof.auth import tokens
from idproof.auth.clients import ClientService
from idproof.auth.revocation import RevocationList
from idproof.auth.signing_keys import SigningKeyRing
from idproof.config import Settings
from idproof.core.clock import Clock, SystemClock
from idproof.security.client_ip import ip_allowed


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of an API request."""

    client_id: str
    tenant_id: str
    tenant_name: str
    scopes: frozenset[str]
    token_id: str


class BearerRejected(Exception):
    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class BearerVerifier:
    def __init__(self, settings: Settings, keys: SigningKeyRing, revocations: RevocationList,
                 clients: ClientService, clock: Clock | None = None) -> None:
        self._s = settings
        self._keys = keys
        self._revocations = revocations
        self._clients = clients
        self._clock = clock or SystemClock()

    def verify(self, token: str, ip: str) -> Principal:
        try:
            claims = tokens.verify(
                token, self._keys.verifying_key, issuer=self._s.issuer,
                audience=self._s.auth.audience, now=int(self._clock.timestamp()),
                leeway=self._s.auth.leeway_seconds, max_bytes=self._s.auth.max_token_bytes)
        except tokens.InvalidToken as exc:
            raise BearerRejected(exc.reason) from None
        if self._revocations.is_revoked(claims.jti):
            raise BearerRejected("revoked")
        client = self._clients.get(claims.client_id)
        if client is None or client.disabled or client.tenant_id != claims.tenant_id:
            raise BearerRejected("client_disabled")
        if not ip_allowed(ip, client.allowed_ips):
            raise BearerRejected("ip_not_allowed", 403)
        return Principal(client.id, client.tenant_id, client.tenant_name,
                         frozenset(claims.scopes), claims.jti)

"""Checking a bearer access token on an API call: signature, claims, revocation, client."""

from __future__ import annotations

import base64
import binascii
import json
import re
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


_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class BearerRejected(Exception):
    def __init__(self, reason: str, status: int = 401, client_hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        # The client the token names (verified or not): whose failures this one counts as.
        self.client_hint = client_hint


def unverified_client_id(token: str, max_bytes: int) -> str | None:
    """The `client_id` a token claims, read without checking it; None when it names none.

    Only ever a counting key for failures: never an identity.
    """
    parts = token.split(".")
    if len(token) > max_bytes or len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    cid = claims.get("client_id") if isinstance(claims, dict) else None
    return cid if isinstance(cid, str) and _CLIENT_ID.match(cid) else None


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
            raise BearerRejected(exc.reason, client_hint=unverified_client_id(
                token, self._s.auth.max_token_bytes)) from None
        if self._revocations.is_revoked(claims.jti):
            raise BearerRejected("revoked", client_hint=claims.client_id)
        client = self._clients.get(claims.client_id)
        if client is None or client.disabled or client.tenant_id != claims.tenant_id:
            raise BearerRejected("client_disabled", client_hint=claims.client_id)
        if not ip_allowed(ip, client.allowed_ips):
            raise BearerRejected("ip_not_allowed", 403)
        return Principal(client.id, client.tenant_id, client.tenant_name,
                         frozenset(claims.scopes), claims.jti)

"""Checking a bearer access token on an API call: signature, claims, revocation, client."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
from collections import OrderedDict
from functools import partial

import anyio.to_thread

from idproof.auth import tokens
from idproof.auth.clients import ClientService
from idproof.auth.mtls import bound_to
from idproof.auth.refresh_ahead import RefreshAhead
from idproof.auth.revocation import RevocationList
from idproof.auth.signing_keys import SigningKeyRing
from idproof.config import Settings
from idproof.core.clock import Clock, SystemClock
from idproof.core.principal import Principal
from idproof.security.client_ip import ip_allowed

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


class VerifiedTokens:
    """A bounded LRU of tokens whose signature and claims were checked, keyed by SHA-256.

    Only the outcome of the stateless checks (signature, issuer, audience, times) is kept;
    an entry is dropped once its token expires (plus the leeway) or its signing key leaves
    the key ring. Invalid tokens are never cached, so a stream of distinct bad tokens cannot
    evict the good ones faster than distinct good tokens would.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[tokens.AccessClaims, str]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes) -> tuple[tokens.AccessClaims, str] | None:
        entry = self._entries.get(digest)
        if entry is not None:
            with self._lock:
                if digest in self._entries:
                    self._entries.move_to_end(digest)
        return entry

    def put(self, digest: bytes, claims: tokens.AccessClaims, kid: str) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._entries[digest] = (claims, kid)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def drop(self, digest: bytes) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _kid(token: str) -> str | None:
    try:
        segment = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


class BearerVerifier:
    """Checks a bearer token on every request.

    The signature and the stateless claims are checked once per distinct token (then cached in
    `VerifiedTokens`); expiry, the signing key still being in the ring, revocation, the
    client's status and its IP allowlist are checked on every request, from views refreshed
    every `auth.revocation_cache_seconds` / `auth.client_cache_seconds` (at once in the process
    that made the change).
    """

    def __init__(self, settings: Settings, keys: SigningKeyRing, revocations: RevocationList,
                 clients: ClientService, clock: Clock | None = None,
                 cache_size: int | None = None) -> None:
        self._s = settings
        self._keys = keys
        self._revocations = revocations
        self._clients = clients
        self._clock = clock or SystemClock()
        self.cache = VerifiedTokens(settings.auth.bearer_cache_size if cache_size is None
                                    else cache_size)
        self._ahead = RefreshAhead()  # the views re-read ahead (auth/refresh_ahead.py)

    def _claims(self, token: str) -> tokens.AccessClaims:
        max_bytes = self._s.auth.max_token_bytes
        now = int(self._clock.timestamp())
        digest = hashlib.sha256(token.encode()).digest() if len(token) <= max_bytes else b""
        hit = self.cache.get(digest) if digest else None
        if hit is not None:
            claims, kid = hit
            if (now < claims.expires_at + self._s.auth.leeway_seconds
                    and kid in self._keys.keyset().verifying):
                return claims
            self.cache.drop(digest)  # expired or key retired: the full check says which
        try:
            claims = tokens.verify(
                token, self._keys.verifying_key, issuer=self._s.issuer,
                audience=self._s.auth.audience, now=now,
                leeway=self._s.auth.leeway_seconds, max_bytes=max_bytes)
        except tokens.InvalidToken as exc:
            raise BearerRejected(exc.reason, client_hint=unverified_client_id(
                token, max_bytes)) from None
        token_kid = _kid(token)
        if digest and token_kid is not None:
            self.cache.put(digest, claims, token_kid)
        return claims

    def verify(self, token: str, ip: str, cert_x5t: str | None = None) -> Principal:
        """`cert_x5t`: the x5t#S256 of the connection's client certificate, if any."""
        return self._principal(self._claims(token), ip, cert_x5t)

    async def verify_async(self, token: str, ip: str, cert_x5t: str | None = None) -> Principal:
        """`verify` for a coroutine: the same checks, from the same views, but a stale view
        (the revocations after `auth.revocation_cache_seconds`, a client after
        `auth.client_cache_seconds`, the key ring after a few seconds) is re-read in a worker
        thread first, so the event loop never waits on the database, and one about to go
        stale is re-read ahead in the background (`auth/refresh_ahead.py`); only a token
        naming an unknown key reloads the ring on the spot, at most once a second. The
        token's signature is checked once, on the loop."""
        if self._keys.refresh_due():
            await anyio.to_thread.run_sync(self._keys.keyset)
        elif self._keys.ahead_due():
            self._ahead.start("keys", self._keys.refresh_ahead)
        claims = self._claims(token)
        if self._revocations.poll_due():
            await anyio.to_thread.run_sync(self._revocations.refresh)
        elif self._revocations.ahead_due():
            self._ahead.start("revocations", self._revocations.refresh_ahead)
        client_id = claims.client_id
        if self._clients.cached(client_id) is None:
            await anyio.to_thread.run_sync(self._clients.get, client_id)
        elif self._clients.view_expires_soon(client_id):
            self._ahead.start(f"client:{client_id}",
                              partial(self._clients.get, client_id, fresh=True))
        return self._principal(claims, ip, cert_x5t)

    def _principal(self, claims: tokens.AccessClaims, ip: str,
                   cert_x5t: str | None) -> Principal:
        if not bound_to(claims.claims, cert_x5t):
            raise BearerRejected("certificate_mismatch", client_hint=claims.client_id)
        if self._revocations.is_revoked(claims.jti):
            raise BearerRejected("revoked", client_hint=claims.client_id)
        client = self._clients.get(claims.client_id)
        if client is None or client.disabled or client.tenant_id != claims.tenant_id:
            raise BearerRejected("client_disabled", client_hint=claims.client_id)
        if not ip_allowed(ip, client.allowed_ips):
            raise BearerRejected("ip_not_allowed", 403)
        return Principal(client.id, client.tenant_id, client.tenant_name,
                         frozenset(claims.scopes), claims.jti)

"""The OAuth2 authorization server's use cases: token (client credentials), revoke, introspect.

Framework-free: the router hands over the form fields, the Authorization header and the
client IP; this module answers with an RFC 6749 §5.2 error or a response body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.auth import tokens
from idproof.auth.assertions import (
    ASSERTION_TYPE,
    AssertionRejected,
    unverified_issuer,
    verify_assertion,
)
from idproof.auth.clients import ClientService, ClientView
from idproof.auth.credentials import basic_credentials, plain_secret
from idproof.auth.mtls import ClientCertificate
from idproof.auth.refresh_ahead import RefreshAhead
from idproof.auth.revocation import RevocationList
from idproof.auth.scopes import KNOWN_SCOPES
from idproof.auth.signing_keys import SigningKeyRing
from idproof.config import Settings
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import IdproofError, TooManyRequests
from idproof.db.engine import Database
from idproof.security.brute_force import BruteForceGuard
from idproof.security.client_ip import ip_allowed

log = structlog.get_logger("idproof.oauth")
security_log = structlog.get_logger("idproof.security")

MAX_PARAM_CHARS = 8192


class OAuthError(Exception):
    """An RFC 6749 §5.2 error response."""

    def __init__(self, error: str, description: str, status: int = 400,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}
        self.audited = False  # set once an audit event for this refusal is written

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


# (client id, certificate) -> the registration that matched, or None.
TlsCheck = Callable[[str, ClientCertificate], str | None]


def _invalid_client() -> OAuthError:
    # One message for every failure, so a caller never learns which part was wrong.
    err = OAuthError("invalid_client", "client authentication failed", 401,
                     {"WWW-Authenticate": 'Basic realm="idproof", charset="UTF-8"'})
    err.audited = True
    return err


@dataclass(frozen=True, slots=True)
class OAuthRequest:
    form: Sequence[tuple[str, str]]
    authorization: str | None
    ip: str
    request_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    # The mTLS client certificate of the connection (or from the trusted gateway).
    client_cert: ClientCertificate | None = None


def parse_form(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Form fields as a dict; RFC 6749 §3.2 forbids repeating a parameter."""
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise OAuthError("invalid_request", f"parameter {key!r} is repeated")
        if len(value) > MAX_PARAM_CHARS:
            raise OAuthError("invalid_request", f"parameter {key!r} is too long")
        out[key] = value
    return out


class OAuthService:
    def __init__(self, *, settings: Settings, db: Database, clients: ClientService,
                 keys: SigningKeyRing, revocations: RevocationList, audit: AuditService,
                 guard: BruteForceGuard, clock: Clock | None = None,
                 tls_check: TlsCheck | None = None,
                 tenant_check: Callable[[str], None] | None = None) -> None:
        self._s = settings
        self._db = db
        self._clients = clients
        self._keys = keys
        self._revocations = revocations
        self._audit = audit
        self._guard = guard
        self._clock = clock or SystemClock()
        # mTLS client authentication (RFC 8705): ClientTlsService.check; None refuses all.
        self._tls_check: TlsCheck = tls_check or (lambda _c, _x: None)
        # Residency (ResidencyGuard.check): raises the 421 `residency_mismatch` problem for a
        # tenant of another region, so this deployment never mints it a token.
        self._tenant_check: Callable[[str], None] = tenant_check or (lambda _t: None)
        self._ahead = RefreshAhead()  # one background re-read per view at a time

    # -- client authentication -----------------------------------------------------------
    def _fail(self, req: OAuthRequest, action: str, reason: str,
              client_id: str | None = None, tenant_id: str | None = None) -> OAuthError:
        just_blocked = self._guard.register_failure(req.ip, tenant_id)
        # client_id is set only for an existing client: unknown ids never become keys.
        client_blocked = client_id is not None and self._guard.register_client_failure(
            client_id)
        self._audit.record(AuditEvent(
            action=action, outcome="failure", actor_type="client", actor_id=client_id,
            tenant_id=tenant_id, ip=req.ip, request_id=req.request_id,
            details={"reason": reason}))
        log.info("client_auth_failed", reason=reason, ip=req.ip)
        if client_blocked:
            self._audit.record(AuditEvent(
                action="security.client_blocked", outcome="success", actor_type="client",
                actor_id=client_id, tenant_id=tenant_id, ip=req.ip,
                request_id=req.request_id,
                details={"seconds": self._s.security.brute_force.block_seconds}))
            security_log.warning("client_blocked_brute_force", client_id=client_id,
                                 seconds=self._s.security.brute_force.block_seconds)
        if just_blocked:
            self._audit.record(AuditEvent(
                action="security.ip_blocked", outcome="success", ip=req.ip,
                request_id=req.request_id,
                details={"seconds": self._s.security.brute_force.block_seconds}))
            security_log.warning("ip_blocked_brute_force", ip=req.ip,
                                 seconds=self._s.security.brute_force.block_seconds)
        return _invalid_client()

    def authenticate(self, req: OAuthRequest, params: dict[str, str],
                     action: str) -> ClientView:
        """Exactly one client authentication method, checked in full, else invalid_client."""
        basic = req.authorization
        has_basic = basic is not None and basic[:6].lower() == "basic "
        has_post = "client_secret" in params
        has_jwt = "client_assertion" in params or "client_assertion_type" in params
        methods = sum((has_basic, has_post, has_jwt))
        if basic is not None and not has_basic:
            raise self._fail(req, action, "unsupported_auth_scheme")
        if methods == 0 and req.client_cert is not None and params.get("client_id"):
            return self._by_certificate(req, action, params["client_id"], req.client_cert)
        if methods == 0:
            raise self._fail(req, action, "no_client_auth")
        if methods > 1:
            raise OAuthError("invalid_request", "use exactly one client authentication method")

        if has_basic:
            assert basic is not None
            pair = basic_credentials(basic)
            if pair is None:
                raise self._fail(req, action, "malformed_basic")
            client_id, secret = pair
            if "client_id" in params and params["client_id"] != client_id:
                raise OAuthError("invalid_request", "client_id does not match")
            return self._by_secret(req, action, client_id, secret)
        if has_post:
            client_id = params.get("client_id", "")
            return self._by_secret(req, action, client_id, params["client_secret"])
        return self._by_assertion(req, action, params)

    def _by_secret(self, req: OAuthRequest, action: str, client_id: str,
                   secret: str) -> ClientView:
        if not client_id or len(client_id) > 64 or not secret or len(secret) > 256:
            raise self._fail(req, action, "malformed_credentials")
        client = self._clients.get(client_id)
        if client is not None:
            self._not_blocked(req, action, client)
        ok = self._clients.check_secret(client_id, secret)
        if client is None or not ok:
            raise self._fail(req, action, "bad_credentials", client_id if client else None,
                             client.tenant_id if client else None)
        return self._usable(req, action, client)

    def _by_certificate(self, req: OAuthRequest, action: str, client_id: str,
                        cert: ClientCertificate) -> ClientView:
        client = self._clients.get(client_id) if len(client_id) <= 64 else None
        if client is None:
            raise self._fail(req, action, "no_tls_registration")
        self._not_blocked(req, action, client)
        if self._tls_check(client.id, cert) is None:
            raise self._fail(req, action, "certificate_mismatch", client.id, client.tenant_id)
        return self._usable(req, action, client)

    def _by_assertion(self, req: OAuthRequest, action: str,
                      params: dict[str, str]) -> ClientView:
        if params.get("client_assertion_type") != ASSERTION_TYPE:
            raise self._fail(req, action, "bad_assertion_type")
        assertion = params.get("client_assertion", "")
        client_id = unverified_issuer(assertion)
        if client_id is None or ("client_id" in params and params["client_id"] != client_id):
            raise self._fail(req, action, "malformed_assertion")
        client = self._clients.get(client_id)
        if client is None or client.jwk is None:
            raise self._fail(req, action, "no_registered_key")
        self._not_blocked(req, action, client)
        try:
            verify_assertion(
                assertion, client_id=client_id, jwk=client.jwk,
                audiences={self._s.token_endpoint, self._s.issuer,
                           f"{self._s.issuer}/oauth/token"},
                now=int(self._clock.timestamp()), leeway=self._s.auth.leeway_seconds,
                max_lifetime=self._s.auth.assertion_max_lifetime_seconds, db=self._db)
        except AssertionRejected as exc:
            raise self._fail(req, action, f"assertion_{exc.reason}", client.id,
                             client.tenant_id) from None
        return self._usable(req, action, client)

    def _not_blocked(self, req: OAuthRequest, action: str, client: ClientView) -> None:
        """Refuse a blocked client before its credentials are checked (no oracle while
        blocked); the refusal is audited but not counted again."""
        retry = self._guard.client_retry_after(client.id)
        if retry is None:
            return
        self._audit.record(AuditEvent(
            action=action, outcome="failure", actor_type="client", actor_id=client.id,
            tenant_id=client.tenant_id, ip=req.ip, request_id=req.request_id,
            details={"reason": "client_blocked"}))
        raise TooManyRequests("too many failed authentications for this client",
                              code="client_blocked", headers={"Retry-After": str(retry)})

    def _usable(self, req: OAuthRequest, action: str, client: ClientView) -> ClientView:
        if client.disabled:
            raise self._fail(req, action, "client_disabled", client.id, client.tenant_id)
        if not ip_allowed(req.ip, client.allowed_ips):
            raise self._fail(req, action, "ip_not_allowed", client.id, client.tenant_id)
        return client

    # -- endpoints -----------------------------------------------------------------------
    def token(self, req: OAuthRequest) -> dict[str, Any]:
        params = parse_form(req.form)
        client = self.authenticate(req, params, "token.refused")
        self._in_region(req, client)
        grant = params.get("grant_type")
        if not grant:
            raise self._refuse(req, client, OAuthError("invalid_request",
                                                       "grant_type is required"))
        if grant != "client_credentials":
            raise self._refuse(req, client, OAuthError(
                "unsupported_grant_type", "only client_credentials is supported"))
        scopes = self._scopes(params, client)
        if scopes is None:
            raise self._refuse(req, client, OAuthError(
                "invalid_scope", "the requested scope is not granted to this client"))
        body, event = self._issue(req, client, scopes)
        self._audit.record(event)
        return body

    async def token_cached(self, req: OAuthRequest) -> dict[str, Any] | None:
        """The grant's success path on the event loop: no thread, no database read (client,
        verified secret and block state from the caches; the audit INSERT awaited, batched
        with other requests'). None when anything is not cached or not plainly a success:
        `token` then decides, audits and counts failures exactly as always."""
        params = parse_form(req.form)
        creds = plain_secret(req.authorization, req.client_cert is not None, params)
        if creds is None or params.get("grant_type") != "client_credentials":
            return None
        client = self._clients.cached(creds[0])
        if client is None or client.disabled or not ip_allowed(req.ip, client.allowed_ips):
            return None
        verified, renew = self._clients.secret_state(*creds)
        if not verified:
            return None
        scopes = self._scopes(params, client)
        if scopes is None or await self._guard.client_retry_after_async(client.id) is not None:
            return None
        try:  # residency, from its cache: another region's tenant goes the full way (refused)
            self._tenant_check(client.tenant_id)
        except IdproofError:
            return None
        if renew:  # the client and its secret, re-read ahead (auth/refresh_ahead.py)
            self._ahead.start(f"client:{client.id}", partial(self._clients.refresh, *creds))
        if self._keys.refresh_due():  # the key ring's periodic re-read, off the event loop
            await asyncio.get_running_loop().run_in_executor(None, self._keys.keyset)
        elif self._keys.ahead_due():
            self._ahead.start("keys", self._keys.refresh_ahead)
        body, event = self._issue(req, client, scopes)
        await self._audit.record_async(event)
        return body

    @staticmethod
    def _scopes(params: dict[str, str], client: ClientView) -> list[str] | None:
        """The scopes to grant: the client's, or the asked subset of them; None if refused."""
        if "scope" not in params:
            return list(client.scopes)
        asked = list(dict.fromkeys(params["scope"].split()))
        if not asked or not set(asked) <= set(client.scopes) or not set(asked) <= KNOWN_SCOPES:
            return None
        return asked

    def _issue(self, req: OAuthRequest, client: ClientView,
               scopes: list[str]) -> tuple[dict[str, Any], AuditEvent]:
        """A signed access token's response body, and its audit event (to record)."""
        token, claims = tokens.mint(
            self._keys.keyset(), issuer=self._s.issuer, audience=self._s.auth.audience,
            client_id=client.id, tenant_id=client.tenant_id, scopes=scopes,
            now=int(self._clock.timestamp()), ttl=self._s.auth.token_ttl_seconds,
            # RFC 8705 §3: a token got over mTLS is bound to that certificate.
            cnf={"x5t#S256": req.client_cert.x5t_s256} if req.client_cert else None)
        event = AuditEvent(
            action="token.issued", actor_type="client", actor_id=client.id,
            tenant_id=client.tenant_id, target_type="token", target_id=claims.jti,
            ip=req.ip, request_id=req.request_id,
            details={"scopes": scopes, "bound": req.client_cert is not None})
        return ({"access_token": token, "token_type": "Bearer",
                 "expires_in": self._s.auth.token_ttl_seconds, "scope": " ".join(scopes)},
                event)

    def _in_region(self, req: OAuthRequest, client: ClientView) -> None:
        """A client of a tenant served by another region gets no token here (audited)."""
        try:
            self._tenant_check(client.tenant_id)
        except IdproofError as exc:
            self._audit.record(AuditEvent(
                action="token.refused", outcome="failure", actor_type="client",
                actor_id=client.id, tenant_id=client.tenant_id, ip=req.ip,
                request_id=req.request_id, details={"reason": exc.code}))
            raise

    def _refuse(self, req: OAuthRequest, client: ClientView, err: OAuthError) -> OAuthError:
        self._audit.record(AuditEvent(
            action="token.refused", outcome="failure", actor_type="client", actor_id=client.id,
            tenant_id=client.tenant_id, ip=req.ip, request_id=req.request_id,
            details={"reason": err.error}))
        err.audited = True
        return err

    def _decode(self, token: str, *, allow_expired: bool = False) -> tokens.AccessClaims | None:
        try:
            return tokens.verify(
                token, self._keys.verifying_key, issuer=self._s.issuer,
                audience=self._s.auth.audience, now=int(self._clock.timestamp()),
                leeway=self._s.auth.leeway_seconds, max_bytes=self._s.auth.max_token_bytes)
        except tokens.InvalidToken:
            return None

    def revoke(self, req: OAuthRequest) -> None:
        params = parse_form(req.form)
        client = self.authenticate(req, params, "token.revoke_refused")
        token = params.get("token")
        if not token:
            raise OAuthError("invalid_request", "token is required")
        claims = self._decode(token)
        # RFC 7009 §2.2: an invalid or foreign token still answers 200, but nothing changes.
        if claims is None or claims.client_id != client.id:
            self._audit.record(AuditEvent(
                action="token.revoked", outcome="ignored", actor_type="client",
                actor_id=client.id, tenant_id=client.tenant_id, ip=req.ip,
                request_id=req.request_id))
            return
        self._revocations.revoke(claims.jti, claims.tenant_id,
                                 datetime.fromtimestamp(claims.expires_at, UTC))
        self._audit.record(AuditEvent(
            action="token.revoked", actor_type="client", actor_id=client.id,
            tenant_id=client.tenant_id, target_type="token", target_id=claims.jti,
            ip=req.ip, request_id=req.request_id))

    def introspect(self, req: OAuthRequest) -> dict[str, Any]:
        params = parse_form(req.form)
        client = self.authenticate(req, params, "token.introspect_refused")
        token = params.get("token")
        if not token:
            raise OAuthError("invalid_request", "token is required")
        claims = self._decode(token)
        active = (claims is not None and claims.tenant_id == client.tenant_id
                  and not self._revocations.is_revoked(claims.jti))
        if active and claims is not None:
            owner = self._clients.get(claims.client_id)
            active = owner is not None and not owner.disabled
        self._audit.record(AuditEvent(
            action="token.introspected", actor_type="client", actor_id=client.id,
            tenant_id=client.tenant_id, ip=req.ip, request_id=req.request_id,
            details={"active": active}))
        if not active or claims is None:
            return {"active": False}
        c = claims.claims
        return {"active": True, "scope": c["scope"], "client_id": claims.client_id,
                "sub": c["sub"], "aud": c["aud"], "iss": c["iss"], "exp": c["exp"],
                "iat": c["iat"], "nbf": c.get("nbf", c["iat"]), "jti": claims.jti,
                "token_type": "Bearer", "tenant": claims.tenant_id}


__all__ = ["OAuthError", "OAuthRequest", "OAuthService"]

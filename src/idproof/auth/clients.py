"""API client use cases: create, rotate a secret with a grace period, disable, authenticate."""

from __future__ import annotations

import builtins
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey, OKPKey, RSAKey
from sqlalchemy import select, update

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.auth.models import Client, ClientSecret, Tenant
from idproof.auth.scopes import parse_scopes
from idproof.auth.secret_hashing import SecretHasher
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, NotFound, ValidationFailed
from idproof.core.ids import new_id, random_token
from idproof.db.engine import Database
from idproof.security.client_ip import validate_cidrs

SECRET_PREFIX = "idpsk_"  # noqa: S105 - a prefix, not a secret
MAX_GRACE = timedelta(days=30)


def new_client_secret() -> str:
    """256 random bits, prefixed so secret scanners can recognise a leaked idproof secret."""
    return SECRET_PREFIX + random_token(32)


@dataclass(frozen=True, slots=True)
class ClientView:
    """What the rest of the service needs to know about a client (cached, no secrets)."""

    id: str
    tenant_id: str
    tenant_name: str
    scopes: tuple[str, ...]
    allowed_ips: tuple[str, ...]
    jwk: dict[str, Any] | None
    disabled: bool
    allowed_origins: tuple[str, ...] = ()
    rate_limits: tuple[tuple[str, str], ...] = ()  # (route group, limit) overrides

    @property
    def version(self) -> str:
        """A fingerprint of the editable settings (optimistic concurrency for an edit)."""
        text = "|".join([" ".join(self.scopes), " ".join(self.allowed_ips),
                         " ".join(self.allowed_origins), str(self.disabled)])
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    client: ClientView
    secret: str


def public_jwk_from(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a client's JWK: a public key of a signing type, private parts refused."""
    if not isinstance(data, dict):
        raise ValidationFailed("the JWK must be a JSON object", code="invalid_jwk")
    private_members = {"d", "p", "q", "dp", "dq", "qi", "k"}
    if private_members & data.keys():
        raise ValidationFailed("register the public key only", code="invalid_jwk")
    kty = data.get("kty")
    key: OKPKey | ECKey | RSAKey
    try:
        if kty == "OKP":
            if data.get("crv") != "Ed25519":
                raise ValueError("only Ed25519 OKP keys")
            key = OKPKey.import_key(data)
        elif kty == "EC":
            if data.get("crv") != "P-256":
                raise ValueError("only P-256 EC keys")
            key = ECKey.import_key(data)
        elif kty == "RSA":
            key = RSAKey.import_key(data)
            if key.raw_value.key_size < 2048:
                raise ValueError("RSA keys must be at least 2048 bits")
        else:
            raise ValueError("kty must be OKP, EC or RSA")
    except (ValueError, TypeError, KeyError) as exc:
        raise ValidationFailed(f"invalid JWK: {exc}", code="invalid_jwk") from None
    out = key.as_dict(private=False)
    if "kid" in data:
        out["kid"] = str(data["kid"])
    return out


def normalize_origin(value: str) -> str:
    """A web origin as browsers send it (`scheme://host[:port]`): https, or http on loopback."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise ValidationFailed("an origin is scheme://host[:port]",
                               code="invalid_origin") from None
    host = (parts.hostname or "").lower()
    local = host in {"localhost", "127.0.0.1", "::1"}
    if (parts.scheme not in {"https", "http"} or (parts.scheme == "http" and not local)
            or not host or parts.username or parts.password or parts.query or parts.fragment
            or parts.path not in {"", "/"}):
        raise ValidationFailed("an origin is https://host[:port] (http only on loopback)",
                               code="invalid_origin")
    default = {"https": 443, "http": 80}[parts.scheme]
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}" + (f":{port}" if port and port != default else "")


class ClientService:
    def __init__(self, db: Database, audit: AuditService, hasher: SecretHasher,
                 clock: Clock | None = None, cache_seconds: float = 2.0) -> None:
        self._db = db
        self._audit = audit
        self._hasher = hasher
        self._clock = clock or SystemClock()
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, ClientView | None]] = {}
        # Recently verified (client id, secret digest) pairs: skips a database read per grant
        # for the same staleness already accepted for a client's status.
        self._verified: dict[tuple[str, bytes], float] = {}
        self._lock = threading.Lock()

    # -- reads ---------------------------------------------------------------------------
    def _view(self, client: Client, tenant: Tenant) -> ClientView:
        return ClientView(
            id=client.id, tenant_id=client.tenant_id, tenant_name=tenant.name,
            scopes=tuple(client.scopes.split()), allowed_ips=tuple(client.allowed_ips or ()),
            jwk=client.jwk, disabled=client.disabled_at is not None,
            allowed_origins=tuple(client.allowed_origins or ()),
            rate_limits=tuple(sorted((client.rate_limits or {}).items())),
        )

    def get(self, client_id: str, *, fresh: bool = False) -> ClientView | None:
        """A client by id, read through a cache of a second or two (disable takes effect in
        that time on every replica, and at once on the one that disabled it)."""
        now = time.monotonic()
        if not fresh:
            hit = self._cache.get(client_id)
            if hit is not None and hit[0] > now:
                return hit[1]
        with self._db.read() as s:
            row = s.execute(
                select(Client, Tenant).join(Tenant, Tenant.id == Client.tenant_id)
                .where(Client.id == client_id)
            ).first()
            view = self._view(row[0], row[1]) if row else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[client_id] = (now + self._cache_seconds, view)
        return view

    def cached(self, client_id: str) -> ClientView | None:
        """The client from the cache `get` fills, or None when it is not there (or stale):
        no database read (for the grant path on the event loop)."""
        hit = self._cache.get(client_id)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def view_expires_soon(self, client_id: str) -> bool:
        """True when the cached client has less than half its time left (or is not cached):
        time to re-read it ahead (`get(fresh=True)`, off the request path)."""
        hit = self._cache.get(client_id)
        return hit is None or hit[0] - time.monotonic() < self._cache_seconds / 2

    def list(self, tenant_name: str | None = None) -> list[ClientView]:
        stmt = select(Client, Tenant).join(Tenant, Tenant.id == Client.tenant_id)
        if tenant_name:
            stmt = stmt.where(Tenant.name == tenant_name)
        with self._db.read() as s:
            rows = s.execute(stmt.order_by(Client.created_at)).all()
        return [self._view(c, t) for c, t in rows]

    # -- writes --------------------------------------------------------------------------
    @staticmethod
    def _checked(scopes: str | builtins.list[str], allowed_ips: builtins.list[str] | None,
                 allowed_origins: builtins.list[str] | None
                 ) -> tuple[builtins.list[str], builtins.list[str], builtins.list[str]]:
        """Scopes, CIDRs and origins validated and normalised (422 with a stable code)."""
        try:
            scope_list = parse_scopes(scopes)
        except ValueError as exc:
            raise ValidationFailed(str(exc), code="invalid_scope") from None
        if not scope_list:
            raise ValidationFailed("at least one scope is required", code="invalid_scope")
        try:
            cidrs = validate_cidrs(allowed_ips or [])
        except ValueError:
            raise ValidationFailed("allowed IPs must be CIDRs", code="invalid_cidr") from None
        return scope_list, cidrs, [normalize_origin(o) for o in allowed_origins or []]

    def create(self, tenant_name: str, scopes: str | builtins.list[str], *,
               allowed_ips: builtins.list[str] | None = None, jwk: dict[str, Any] | None = None,
               name: str | None = None, actor: str = "cli",
               allowed_origins: builtins.list[str] | None = None) -> IssuedSecret:
        scope_list, cidrs, origins = self._checked(scopes, allowed_ips, allowed_origins)
        public_jwk = public_jwk_from(jwk) if jwk is not None else None
        secret = new_client_secret()
        now = self._clock.now()
        with self._db.session() as s:
            tenant = s.scalar(select(Tenant).where(Tenant.name == tenant_name))
            if tenant is None:
                raise NotFound("no such tenant", code="tenant_not_found")
            client = Client(id=new_id("cli"), tenant_id=tenant.id, name=name,
                            scopes=" ".join(scope_list), allowed_ips=cidrs, jwk=public_jwk,
                            allowed_origins=origins, created_at=now)
            s.add(client)
            s.flush()
            s.add(ClientSecret(id=new_id("sec"), client_id=client.id,
                               digest=self._hasher.digest(secret), created_at=now))
            self._audit.record_in(s, AuditEvent(
                action="client.created", actor_type="operator", actor_id=actor,
                tenant_id=tenant.id, target_type="client", target_id=client.id,
                details={"scopes": scope_list, "allowed_ips": len(cidrs),
                         "allowed_origins": origins,
                         "private_key_jwt": public_jwk is not None}))
            view = self._view(client, tenant)
        return IssuedSecret(view, secret)

    def rotate_secret(self, client_id: str, grace: timedelta, *,
                      actor: str = "cli") -> IssuedSecret:
        if grace < timedelta(0) or grace > MAX_GRACE:
            raise ValidationFailed("grace must be between 0 and 30 days", code="invalid_grace")
        secret = new_client_secret()
        now = self._clock.now()
        with self._db.session() as s:
            row = s.execute(select(Client, Tenant).join(Tenant, Tenant.id == Client.tenant_id)
                            .where(Client.id == client_id)).first()
            if row is None:
                raise NotFound("no such client", code="client_not_found")
            client, tenant = row
            # Old secrets end at now+grace (or sooner if they already ended sooner).
            s.execute(update(ClientSecret)
                      .where(ClientSecret.client_id == client_id,
                             ClientSecret.expires_at.is_(None))
                      .values(expires_at=now + grace))
            s.add(ClientSecret(id=new_id("sec"), client_id=client_id,
                               digest=self._hasher.digest(secret), created_at=now))
            self._audit.record_in(s, AuditEvent(
                action="client.secret_rotated", actor_type="operator", actor_id=actor,
                tenant_id=client.tenant_id, target_type="client", target_id=client_id,
                details={"grace_seconds": int(grace.total_seconds())}))
            view = self._view(client, tenant)
        self._forget(client_id)
        return IssuedSecret(view, secret)

    def disable(self, client_id: str, *, actor: str = "cli") -> ClientView:
        with self._db.session() as s:
            row = s.execute(select(Client, Tenant).join(Tenant, Tenant.id == Client.tenant_id)
                            .where(Client.id == client_id)).first()
            if row is None:
                raise NotFound("no such client", code="client_not_found")
            client, tenant = row
            if client.disabled_at is None:
                client.disabled_at = self._clock.now()
            self._audit.record_in(s, AuditEvent(
                action="client.disabled", actor_type="operator", actor_id=actor,
                tenant_id=client.tenant_id, target_type="client", target_id=client_id))
            view = self._view(client, tenant)
        self._forget(client_id)
        return view

    def edit(self, client_id: str, scopes: str | builtins.list[str], *,
             allowed_ips: builtins.list[str], allowed_origins: builtins.list[str],
             version: str | None = None, actor: str = "cli") -> ClientView:
        """Replace a client's scopes, allowed IPs and origins. `version` (from the form the
        operator saw) must still be the client's: a stale form changes nothing (409). Tokens
        already issued keep their scopes until they expire; new grants get the new ones."""
        scope_list, cidrs, origins = self._checked(scopes, allowed_ips, allowed_origins)
        with self._db.session() as s:
            row = s.execute(select(Client, Tenant).join(Tenant, Tenant.id == Client.tenant_id)
                            .where(Client.id == client_id).with_for_update(of=Client)).first()
            if row is None:
                raise NotFound("no such client", code="client_not_found")
            client, tenant = row
            if client.disabled_at is not None:
                raise Conflict("the client is disabled", code="client_disabled")
            if version is not None and not hmac.compare_digest(
                    version, self._view(client, tenant).version):
                raise Conflict("the client changed since this form was loaded",
                               code="client_conflict")
            before = (client.scopes.split(), list(client.allowed_ips or []),
                      list(client.allowed_origins or []))
            client.scopes = " ".join(scope_list)
            client.allowed_ips, client.allowed_origins = cidrs, origins
            if before != (scope_list, cidrs, origins):
                self._audit.record_in(s, AuditEvent(
                    action="client.updated", actor_type="operator", actor_id=actor,
                    tenant_id=client.tenant_id, target_type="client", target_id=client_id,
                    details={"scopes": scope_list, "scopes_before": before[0],
                             "allowed_ips": len(cidrs), "allowed_origins": origins}))
            view = self._view(client, tenant)
        self._forget(client_id)
        return view

    def set_rate_limits(self, client_id: str, overrides: dict[str, str], *,
                        actor: str = "cli") -> ClientView:
        """Merge per-group rate limits into the client's own ({group: ""} restores the
        default); the limits are validated by the caller (`security.route_limits`)."""
        with self._db.session() as s:
            row = s.execute(select(Client, Tenant).join(Tenant, Tenant.id == Client.tenant_id)
                            .where(Client.id == client_id)).first()
            if row is None:
                raise NotFound("no such client", code="client_not_found")
            client, tenant = row
            merged = {**(client.rate_limits or {}), **overrides}
            client.rate_limits = {k: v for k, v in merged.items() if v}
            self._audit.record_in(s, AuditEvent(
                action="client.updated", actor_type="operator", actor_id=actor,
                tenant_id=client.tenant_id, target_type="client", target_id=client_id,
                details={"rate_limits": [f"{g}={v}" for g, v in
                                         sorted(client.rate_limits.items())]}))
            view = self._view(client, tenant)
        self._forget(client_id)
        return view

    def _forget(self, client_id: str) -> None:
        with self._lock:
            self._cache.pop(client_id, None)
            for key in [k for k in self._verified if k[0] == client_id]:
                del self._verified[key]

    # -- authentication ------------------------------------------------------------------
    def check_secret(self, client_id: str, secret: str) -> bool:
        """True when `secret` is a live secret of `client_id`; constant time per candidate."""
        presented = self._hasher.digest(secret)
        key = (client_id, presented)
        hit = self._verified.get(key)
        # The service clock, not the monotonic one: a secret's grace period ends by it.
        if hit is not None and hit > self._clock.timestamp():
            return True
        ok = self._check_secret_db(client_id, secret)
        if ok:
            with self._lock:
                if len(self._verified) > 10_000:
                    self._verified.clear()
                self._verified[key] = self._clock.timestamp() + self._cache_seconds
        return ok

    def secret_cached(self, client_id: str, secret: str) -> bool:
        """True when `secret` was verified for `client_id` recently (see `check_secret`);
        False means unknown here, not wrong: no database read."""
        return self.secret_state(client_id, secret)[0]

    def expires_soon(self, client_id: str, secret: str) -> bool:
        """True when the cached client or its verified secret has less than half its time
        left: time to `refresh` them, ahead, so that a busy client never misses the cache."""
        return self.secret_state(client_id, secret)[1]

    def secret_state(self, client_id: str, secret: str) -> tuple[bool, bool]:
        """(`secret_cached`, `expires_soon`) from one digest of the secret (the grant path)."""
        now = self._clock.timestamp()
        seen = self._verified.get((client_id, self._hasher.digest(secret)))
        return (seen is not None and seen > now,
                self.view_expires_soon(client_id)
                or seen is None or seen - now < self._cache_seconds / 2)

    def refresh(self, client_id: str, secret: str) -> None:
        """Re-read the client and re-verify the secret from the database, renewing (or
        dropping) both cache entries: the same staleness bound, without a miss."""
        self.get(client_id, fresh=True)
        key = (client_id, self._hasher.digest(secret))
        ok = self._check_secret_db(client_id, secret)
        with self._lock:
            if ok:
                self._verified[key] = self._clock.timestamp() + self._cache_seconds
            else:
                self._verified.pop(key, None)

    def _check_secret_db(self, client_id: str, secret: str) -> bool:
        now: datetime = self._clock.now()
        with self._db.read() as s:
            digests = s.scalars(
                select(ClientSecret.digest).where(
                    ClientSecret.client_id == client_id,
                    (ClientSecret.expires_at.is_(None)) | (ClientSecret.expires_at > now),
                )
            ).all()
        # Compare against every live digest without short-circuiting.
        ok = False
        if not digests:
            # Same work for an unknown client, so timing does not reveal which ids exist.
            self._hasher.digest(secret)
        for digest in digests:
            ok |= self._hasher.matches(secret, digest)
        return ok

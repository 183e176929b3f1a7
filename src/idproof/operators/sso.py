"""Operator single sign-on: the redirect, the callback, groups to roles, MFA by `amr` or local."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from idproof.audit.service import AuditService
from idproof.auth.models import Tenant
from idproof.config import OidcRoleRule, OidcSettings
from idproof.core.clock import Clock
from idproof.core.ids import new_id, random_token
from idproof.db.engine import Database
from idproof.operators.accounts import normalize_email
from idproof.operators.audit_events import operator_event
from idproof.operators.models import Operator, OperatorPasskey
from idproof.operators.oidc import OidcError, OidcProvider, Pending
from idproof.operators.policy import Role
from idproof.operators.sealing import SecretSealer
from idproof.operators.sessions import ConsoleSessions, Live
from idproof.operators.who import Who

_SEAL_CONTEXT = "oidc-login"


def map_role(claims: Mapping[str, Any], groups_claim: str,
             rules: Sequence[OidcRoleRule]) -> OidcRoleRule | None:
    """The first rule whose group the person is in (a list or a single string claim)."""
    raw = claims.get(groups_claim)
    groups = {raw} if isinstance(raw, str) else {g for g in raw if isinstance(g, str)} \
        if isinstance(raw, list) else set()
    return next((rule for rule in rules if rule.group in groups), None)


def mfa_asserted(claims: Mapping[str, Any], accepted: Sequence[str]) -> bool:
    """True when the provider says (RFC 8176 `amr`) that more than a password was used."""
    amr = claims.get("amr")
    return isinstance(amr, list) and any(v in accepted for v in amr if isinstance(v, str))


def subject_hash(issuer: str, sub: str) -> str:
    return hashlib.sha256(f"idproof/sso/v1\n{issuer}\n{sub}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SsoResult:
    cookie: str
    stage: str  # full, mfa (local second factor next) or enrolling (no factor yet)
    next: str | None = None  # a step-up's page to go back to


class SsoSignIn:
    def __init__(self, db: Database, audit: AuditService, sessions: ConsoleSessions,
                 sealer: SecretSealer, provider: OidcProvider, settings: OidcSettings,
                 clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._sessions = sessions
        self._sealer = sealer
        self.provider = provider
        self._settings = settings
        self._clock = clock
        self.label = settings.label

    def start(self, step_up: Live | None = None, next_page: str = "/console/"
              ) -> tuple[str, str]:
        """(the provider's authorization URL, the sealed value for the browser's cookie);
        with `step_up`, a fresh authentication that confirms that console session."""
        pending = Pending.new(self._clock.timestamp(),
                              session_id=step_up.session_id if step_up else None,
                              next=next_page)
        url = self.provider.authorization_url(pending)
        sealed = self._sealer.seal(_SEAL_CONTEXT, json.dumps(asdict(pending)))
        # Hex: the cookie's value must never hold `--`, which a WAF reads as SQL (CRS 942440).
        return url, sealed.hex()

    def _pending(self, sealed: str | None, state: str | None) -> Pending:
        if not sealed or not state:
            raise OidcError("oidc_state_mismatch")
        try:
            data = json.loads(self._sealer.open(_SEAL_CONTEXT, bytes.fromhex(sealed)))
            pending = Pending(**data)
        except (InvalidTag, ValueError, TypeError):
            raise OidcError("oidc_state_mismatch") from None
        if not hmac.compare_digest(pending.state.encode(), state.encode()):
            raise OidcError("oidc_state_mismatch")
        if pending.expires <= self._clock.timestamp():
            raise OidcError("oidc_state_expired")
        return pending

    def finish(self, sealed: str | None, params: Mapping[str, str], who: Who) -> SsoResult:
        """The callback: state, code exchange, id_token, account and session; audited."""
        pending: Pending | None = None
        try:
            if params.get("iss") and params["iss"].rstrip("/") != self.provider.issuer:
                raise OidcError("oidc_wrong_issuer")  # RFC 9207: a provider mix-up
            pending = self._pending(sealed, params.get("state"))
            if params.get("error"):
                raise OidcError("oidc_provider_refused")
            code = params.get("code") or ""
            if not code or len(code) > 2048:
                raise OidcError("oidc_code_rejected")
            raw = self.provider.exchange(code, pending.verifier)
            claims = self.provider.validate(raw, pending.nonce, self._clock.timestamp())
            if pending.session_id is not None:
                return self._step_up(claims, pending.session_id, pending.next, who)
            return self._sign_in(claims, who)
        except OidcError as exc:
            step_up = pending is not None and pending.session_id is not None
            self._audit.record(operator_event(
                "operator.mfa_failed" if step_up else "operator.signin_failed", actor_id=None,
                outcome="failure", ip=who.ip, request_id=who.request_id, factor="sso",
                reason=exc.code, purpose="step_up" if step_up else None))
            raise

    def _sign_in(self, claims: Mapping[str, Any], who: Who) -> SsoResult:
        rule = map_role(claims, self._settings.groups_claim, self._settings.roles)
        if rule is None:
            raise OidcError("oidc_no_role", 403)
        mfa = mfa_asserted(claims, self._settings.mfa_amr)
        now = self._clock.now()
        with self._db.session() as s:
            op = self._account(s, claims, rule)
            if op.status == "disabled":
                raise OidcError("oidc_operator_disabled", 403)
            has_factor = op.totp_secret is not None or s.scalar(
                select(OperatorPasskey.id).where(OperatorPasskey.operator_id == op.id)
                .limit(1)) is not None
            if mfa:
                stage, op.status = "full", "active"
            elif has_factor and op.status == "active":
                stage = "mfa"
            else:  # MFA is mandatory: no factor yet, so enrol one before any page opens.
                stage, op.status = "enrolling", "pending"
            cookie = self._sessions.create(s, op.id, stage, ip=who.ip,
                                           mfa_at=now if stage == "full" else None)
            self._audit.record_in(s, operator_event(
                "operator.signed_in" if stage == "full" else "operator.sso_verified",
                actor_id=op.id, target_id=op.id, ip=who.ip, request_id=who.request_id,
                factor="sso", mfa="provider" if mfa else "local"))
        return SsoResult(cookie, stage)

    def _step_up(self, claims: Mapping[str, Any], session_id: str, next_page: str,
                 who: Who) -> SsoResult:
        """The provider authenticated the same person again, just now, with MFA: the
        session is rotated with a fresh second-factor time."""
        live = self._sessions.by_id(session_id)
        if live is None or live.stage != "full":
            raise OidcError("oidc_session_gone", 401)
        auth_time = claims.get("auth_time")
        now = self._clock.now()
        # max_age=0 asked for a new authentication; one older than the step-up's window is
        # an old provider session replayed.
        if not isinstance(auth_time, int | float) or auth_time < (
                now.timestamp() - 600 - self.provider.leeway):
            raise OidcError("oidc_not_reauthenticated", 401)
        if not mfa_asserted(claims, self._settings.mfa_amr):
            raise OidcError("oidc_mfa_required", 403)
        subject = subject_hash(self.provider.issuer, str(claims["sub"]))
        with self._db.session() as s:
            op = s.get(Operator, live.operator_id)
            if op is None or op.sso_subject is None or not hmac.compare_digest(
                    op.sso_subject, subject):
                raise OidcError("oidc_wrong_account", 403)
            cookie = self._sessions.rotate(s, live, "full", ip=who.ip, mfa_at=now,
                                           keep_expiry=True)
            self._audit.record_in(s, operator_event(
                "operator.step_up", actor_id=op.id, target_id=op.id, ip=who.ip,
                request_id=who.request_id, factor="sso"))
        return SsoResult(cookie, "full", next_page)

    def _account(self, s: Session, claims: Mapping[str, Any], rule: OidcRoleRule) -> Operator:
        """The operator for these claims: by subject, else linked by verified email, else new;
        its role, tenants and regions follow the provider's groups at every sign-in."""
        subject = subject_hash(self.provider.issuer, str(claims["sub"]))
        op = s.scalar(select(Operator).where(Operator.sso_subject == subject)
                      .with_for_update())
        now = self._clock.now()
        if op is None:
            email = claims.get("email")
            if not isinstance(email, str) or claims.get("email_verified") is not True:
                raise OidcError("oidc_email_unverified", 403)
            email = normalize_email(email)[:320]
            op = s.scalar(select(Operator).where(Operator.email == email).with_for_update())
            if op is not None and op.sso_subject is not None:
                raise OidcError("oidc_account_conflict", 409)
            if op is None:
                op = Operator(id=new_id("opr"), email=email, role=Role.ANALYST.value,
                              tenants=[], regions=[], assigned_only=False, status="pending",
                              created_at=now, updated_at=now, user_handle=random_token(32))
                s.add(op)
                s.flush()
                self._audit.record_in(s, operator_event(
                    "operator.created", actor_id="sso", target_id=op.id, via="sso"))
            op.sso_subject = subject
        self._apply_rule(s, op, rule)
        return op

    def _apply_rule(self, s: Session, op: Operator, rule: OidcRoleRule) -> None:
        try:
            role = Role(rule.role)
        except ValueError:
            raise OidcError("oidc_bad_role_mapping", 403) from None
        tenants: list[str] = []
        for name in dict.fromkeys(rule.tenants):
            tenant = s.scalar(select(Tenant).where(or_(Tenant.name == name, Tenant.id == name)))
            if tenant is None:
                raise OidcError("oidc_bad_role_mapping", 403)
            tenants.append(tenant.id)
        if role is Role.OWNER:
            tenants = []
        regions = sorted(set(rule.regions))
        if (op.role, list(op.tenants), list(op.regions)) != (role.value, tenants, regions):
            self._audit.record_in(s, operator_event(
                "operator.role_changed", actor_id="sso", target_id=op.id, role=role.value,
                previous_role=op.role, tenants=tenants, regions=regions, via="sso"))
            op.role, op.tenants, op.regions = role.value, tenants, regions
            op.updated_at = self._clock.now()


def build_sso(db: Database, audit: AuditService, sessions: ConsoleSessions, seal_key: bytes,
              settings: OidcSettings, public_url: str, clock: Clock) -> SsoSignIn | None:
    """The single sign-on service when an identity provider is configured, else None."""
    if not settings.enabled:
        return None
    secret = settings.client_secret.get_secret_value() if settings.client_secret else None
    provider = OidcProvider(
        settings.issuer, settings.client_id, secret,
        redirect_uri=f"{public_url}/console/login/oidc/callback", scopes=settings.scopes,
        algorithms=settings.algorithms, timeout=settings.timeout_seconds,
        leeway=settings.clock_skew_seconds)
    return SsoSignIn(db, audit, sessions, SecretSealer(seal_key), provider, settings, clock)

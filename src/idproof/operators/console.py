"""Console sign-in use cases: enrolment, password + second factor, step-up, account changes.

Every outcome that matters (sign-in, failure, lock, factor added or removed, session ended)
is an audit event with actor type `operator` and the operator's id, never an email.
"""

from __future__ import annotations

import base64
import hmac
import os
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, ValidationFailed
from idproof.core.ids import new_id
from idproof.db.engine import Database
from idproof.operators import recovery, totp
from idproof.operators.accounts import normalize_email, revoke_sessions, token_hash
from idproof.operators.audit_events import operator_event
from idproof.operators.models import (
    Operator,
    OperatorEnrollment,
    OperatorPasskey,
    OperatorRecoveryCode,
)
from idproof.operators.passkeys import CEREMONY_ERRORS, Relying, credential_ids
from idproof.operators.passwords import PasswordHashing, password_problems
from idproof.operators.policy import OperatorContext, Role
from idproof.operators.sealing import SecretSealer
from idproof.operators.sessions import ConsoleSessions, Live
from idproof.operators.throttle import SignInThrottle

log = structlog.get_logger("idproof.operators")
ISSUER = "idproof"


@dataclass(frozen=True, slots=True)
class Who:
    """Request context for audit events."""

    ip: str | None
    request_id: str | None


@dataclass(frozen=True, slots=True)
class LoginResult:
    outcome: str  # ok, bad_credentials, slowed, locked, enrolment_required
    cookie: str | None = None
    retry_after: int = 0


@dataclass(frozen=True, slots=True)
class Enrolled:
    cookie: str
    recovery_codes: list[str]


def context(live: Live, now: datetime) -> OperatorContext:
    """The policy's view of a signed-in operator."""
    return OperatorContext(
        id=live.operator_id, role=Role(live.role),
        tenants=frozenset(live.tenants) if live.tenants else None,
        regions=frozenset(live.regions) if live.regions else None,
        assigned_only=live.assigned_only,
        mfa_age_seconds=((now - live.mfa_at).total_seconds()
                         if live.stage == "full" and live.mfa_at is not None else None))


class ConsoleService:
    def __init__(self, db: Database, audit: AuditService, sessions: ConsoleSessions,
                 throttle: SignInThrottle, sealer: SecretSealer, recovery_pepper: bytes,
                 relying: Relying, clock: Clock | None = None, *,
                 csrf_key: bytes = b"") -> None:
        self._db = db
        self._audit = audit
        self.sessions = sessions
        self.throttle = throttle
        self._sealer = sealer
        self._pepper = recovery_pepper
        self.relying = relying
        self._clock = clock or SystemClock()
        self._passwords = PasswordHashing()
        self.csrf_key = csrf_key or os.urandom(32)

    def now(self) -> datetime:
        return self._clock.now()

    def _record(self, s: Session | None, event: AuditEvent) -> None:
        if s is None:
            self._audit.record(event)
        else:
            self._audit.record_in(s, event)

    # -- enrolment -----------------------------------------------------------------------------
    def enrollment_state(self, token: str) -> str:
        """`ok`, `used`, `expired` or `invalid` for an enrolment token."""
        if not token or len(token) > 128:
            return "invalid"
        with self._db.read() as s:
            row = s.scalar(select(OperatorEnrollment)
                           .where(OperatorEnrollment.token_hash == token_hash(token)))
            if row is None:
                return "invalid"
            if row.used_at is not None:
                return "used"
            if row.expires_at <= self.now():
                return "expired"
            op = s.get(Operator, row.operator_id)
            return "ok" if op is not None and op.status == "pending" else "used"

    def set_password(self, token: str, password: str, confirm: str, who: Who) -> str:
        """Check the link and the password rules, store the hash, and open an `enrolling`
        session (returns its cookie). Raises ValidationFailed (problems in `extra`) or
        Conflict (`enrollment_used`, `enrollment_expired`, `enrollment_invalid`)."""
        state = self.enrollment_state(token)
        if state != "ok":
            self._audit.record(operator_event(
                "operator.enrollment_refused", actor_id=None, outcome="failure", ip=who.ip,
                request_id=who.request_id, reason=state))
            raise Conflict("this enrolment link cannot be used", code=f"enrollment_{state}",
                           status=410 if state in {"used", "expired"} else 404)
        problems = password_problems(password, confirm)
        if problems:
            raise ValidationFailed("the password is not acceptable", code=problems[0],
                                   extra={"problems": problems})
        hashed = self._passwords.hash(password)
        with self._db.session() as s:
            enr = s.scalar(select(OperatorEnrollment)
                           .where(OperatorEnrollment.token_hash == token_hash(token))
                           .with_for_update())
            assert enr is not None
            op = s.get(Operator, enr.operator_id)
            assert op is not None
            op.password_hash = hashed
            op.updated_at = self.now()
            # A second visit of the link restarts enrolment: earlier half-done sessions end.
            revoke_sessions(s, op.id, self.now())
            cookie = self.sessions.create(s, op.id, "enrolling", ip=who.ip,
                                          enrollment_id=enr.id)
            self._audit.record_in(s, operator_event(
                "operator.password_set", actor_id=op.id, target_id=op.id, ip=who.ip,
                request_id=who.request_id, via="enrollment"))
        return cookie

    # -- TOTP set-up (enrolment and account page) ------------------------------------------------
    def totp_setup(self, live: Live) -> tuple[str, str]:
        """A new secret held sealed in the session until confirmed: (secret, otpauth URI)."""
        secret = totp.new_secret()
        sealed = base64.urlsafe_b64encode(self._sealer.seal(live.session_id, secret)).decode()
        self.sessions.set_challenge(live.session_id, "totp:" + sealed)
        return secret, totp.provisioning_uri(secret, account=live.operator_id, issuer=ISSUER)

    def pending_totp(self, live: Live) -> tuple[str, str] | None:
        if not live.challenge or not live.challenge.startswith("totp:"):
            return None
        try:
            secret = self._sealer.open(live.session_id, base64.urlsafe_b64decode(
                live.challenge[5:]))
        except Exception:
            return None
        return secret, totp.provisioning_uri(secret, account=live.operator_id, issuer=ISSUER)

    def totp_confirm(self, live: Live, code: str, who: Who) -> Enrolled | None:
        """Confirm the pending secret with a code; None when it does not match."""
        pending = self.pending_totp(live)
        if pending is None:
            return None
        secret = pending[0]
        step = totp.matching_step(secret, code, self._clock.timestamp(), None)
        if step is None:
            self._audit.record(operator_event(
                "operator.mfa_enrollment_failed", actor_id=live.operator_id,
                target_id=live.operator_id, outcome="failure", ip=who.ip,
                request_id=who.request_id, factor="totp"))
            return None
        with self._db.session() as s:
            op = s.get(Operator, live.operator_id, with_for_update=True)
            assert op is not None
            op.totp_secret = self._sealer.seal(op.id, secret)
            op.totp_last_step = step
            self._audit.record_in(s, operator_event(
                "operator.mfa_enrolled", actor_id=op.id, target_id=op.id, ip=who.ip,
                request_id=who.request_id, factor="totp"))
            return self._after_factor(s, op, live, who)

    def _after_factor(self, s: Session, op: Operator, live: Live, who: Who) -> Enrolled:
        """A factor was added: finish enrolment if it was one, rotate the session."""
        now = self.now()
        codes: list[str] = []
        if live.stage == "enrolling":
            op.status = "active"
            if live.enrollment_id:
                s.execute(update(OperatorEnrollment)
                          .where(OperatorEnrollment.id == live.enrollment_id)
                          .values(used_at=now))
            codes = self._new_recovery_codes(s, op.id)
            self._audit.record_in(s, operator_event(
                "operator.enrolled", actor_id=op.id, target_id=op.id, ip=who.ip,
                request_id=who.request_id))
            cookie = self.sessions.rotate(s, live, "full", ip=who.ip, mfa_at=now)
        else:
            cookie = self.sessions.rotate(s, live, "full", ip=who.ip, mfa_at=now,
                                          keep_expiry=True)
        op.updated_at = now
        return Enrolled(cookie, codes)

    def _new_recovery_codes(self, s: Session, operator_id: str) -> list[str]:
        s.execute(delete(OperatorRecoveryCode)
                  .where(OperatorRecoveryCode.operator_id == operator_id))
        codes = recovery.generate()
        now = self.now()
        for code in codes:
            s.add(OperatorRecoveryCode(id=new_id("orc"), operator_id=operator_id,
                                       code_hash=recovery.digest(self._pepper, code),
                                       created_at=now))
        return codes

    # -- passkey registration ----------------------------------------------------------------------
    def passkey_registration_options(self, live: Live) -> str:
        with self._db.read() as s:
            op = s.get(Operator, live.operator_id)
            assert op is not None
            existing = list(s.scalars(select(OperatorPasskey.credential_id)
                                      .where(OperatorPasskey.operator_id == op.id)))
            handle, label = op.user_handle, op.email
        options, challenge = self.relying.registration_options(handle, label, existing)
        self.sessions.set_challenge(live.session_id, "reg:" + challenge)
        return options

    def passkey_register(self, live: Live, credential: str, who: Who) -> Enrolled | None:
        challenge = live.challenge or ""
        if not challenge.startswith("reg:"):
            return None
        self.sessions.set_challenge(live.session_id, None)  # one ceremony per challenge
        try:
            reg = self.relying.verify_registration(credential, challenge[4:])
        except CEREMONY_ERRORS as exc:
            self._audit.record(operator_event(
                "operator.mfa_enrollment_failed", actor_id=live.operator_id,
                target_id=live.operator_id, outcome="failure", ip=who.ip,
                request_id=who.request_id, factor="passkey", error=type(exc).__name__))
            return None
        with self._db.session() as s:
            op = s.get(Operator, live.operator_id, with_for_update=True)
            assert op is not None
            count = len(list(s.scalars(select(OperatorPasskey.id)
                                       .where(OperatorPasskey.operator_id == op.id))))
            s.add(OperatorPasskey(id=new_id("opk"), operator_id=op.id,
                                  credential_id=reg.credential_id, public_key=reg.public_key,
                                  sign_count=reg.sign_count, transports=[],
                                  label=f"Passkey {count + 1}", created_at=self.now()))
            self._audit.record_in(s, operator_event(
                "operator.mfa_enrolled", actor_id=op.id, target_id=op.id, ip=who.ip,
                request_id=who.request_id, factor="passkey"))
            return self._after_factor(s, op, live, who)

    # -- sign-in ---------------------------------------------------------------------------------
    def login(self, email: str, password: str, who: Who) -> LoginResult:
        """Password step. The same work and the same answer whether or not the email exists."""
        email = normalize_email(email)[:320]
        now_ts = self._clock.timestamp()
        refusal = self.throttle.check(email, who.ip, now_ts)
        if refusal is not None:
            self._audit.record(operator_event(
                "operator.signin_refused", actor_id=None, outcome="failure", ip=who.ip,
                request_id=who.request_id, reason=refusal.reason))
            return LoginResult(refusal.reason, retry_after=refusal.retry_after)
        with self._db.read() as s:
            op = s.scalar(select(Operator).where(Operator.email == email))
            stored = op.password_hash if op is not None else None
            op_id = op.id if op is not None else None
            status = op.status if op is not None else None
        ok = self._passwords.verify(stored, password)
        if not ok or status == "disabled" or op_id is None:
            out = self.throttle.failure(email, who.ip, now_ts)
            events = [operator_event(
                "operator.signin_failed", actor_id=op_id, target_id=op_id, outcome="failure",
                ip=who.ip, request_id=who.request_id,
                reason="disabled" if ok and status == "disabled" else "bad_credentials",
                failures=out.failures)]
            if out.locked_now or out.ip_locked_now:
                events.append(operator_event(
                    "operator.signin_locked", actor_id=op_id, target_id=op_id,
                    outcome="alert", ip=who.ip, request_id=who.request_id,
                    scope="account" if out.locked_now else "ip"))
                log.warning("operator_signin_locked", operator_id=op_id,
                            scope="account" if out.locked_now else "ip")
            self._audit.record_many(events)
            return LoginResult("bad_credentials")
        self.throttle.success(email)
        if status != "active":
            self._audit.record(operator_event(
                "operator.signin_refused", actor_id=op_id, target_id=op_id, outcome="failure",
                ip=who.ip, request_id=who.request_id, reason="enrolment_incomplete"))
            return LoginResult("enrolment_required")
        with self._db.session() as s:
            cookie = self.sessions.create(s, op_id, "mfa", ip=who.ip)
            self._audit.record_in(s, operator_event(
                "operator.password_verified", actor_id=op_id, target_id=op_id, ip=who.ip,
                request_id=who.request_id))
        return LoginResult("ok", cookie)

    def verify_code(self, live: Live, code: str, who: Who, *, purpose: str = "signin"
                    ) -> str | None:
        """Second factor by TOTP or recovery code; a new session cookie on success."""
        now = self.now()
        with self._db.session() as s:
            op = s.get(Operator, live.operator_id, with_for_update=True)
            if op is None or op.status != "active":
                return None
            factor = None
            if op.totp_secret is not None:
                secret = self._sealer.open(op.id, op.totp_secret)
                step = totp.matching_step(secret, code, self._clock.timestamp(),
                                          op.totp_last_step)
                if step is not None:
                    op.totp_last_step = step
                    factor = "totp"
            if factor is None and recovery.looks_like_recovery_code(code):
                stored = dict(s.execute(
                    select(OperatorRecoveryCode.id, OperatorRecoveryCode.code_hash)
                    .where(OperatorRecoveryCode.operator_id == op.id,
                           OperatorRecoveryCode.used_at.is_(None))).all())
                used = recovery.find(self._pepper, code, stored)
                if used is not None:
                    s.execute(delete(OperatorRecoveryCode)
                              .where(OperatorRecoveryCode.id == used))
                    factor = "recovery_code"
            if factor is None:
                self._record(s, operator_event(
                    "operator.mfa_failed", actor_id=op.id, target_id=op.id, outcome="failure",
                    ip=who.ip, request_id=who.request_id, purpose=purpose))
                return None
            return self._second_factor_ok(s, op.id, live, who, factor, purpose, now)

    def _second_factor_ok(self, s: Session, op_id: str, live: Live, who: Who, factor: str,
                          purpose: str, now: datetime) -> str:
        if purpose == "step_up":
            cookie = self.sessions.rotate(s, live, "full", ip=who.ip, mfa_at=now,
                                          keep_expiry=True)
            action = "operator.step_up"
        else:
            cookie = self.sessions.rotate(s, live, "full", ip=who.ip, mfa_at=now)
            action = "operator.signed_in"
        self._audit.record_in(s, operator_event(action, actor_id=op_id, target_id=op_id,
                                                ip=who.ip, request_id=who.request_id,
                                                factor=factor))
        return cookie

    # -- passkey assertions ------------------------------------------------------------------------
    def passkey_assertion_options(self, live: Live | None) -> tuple[str, str]:
        """(options JSON, challenge): for a known operator (its credentials) or username-less."""
        allowed: list[str] | None = None
        if live is not None:
            with self._db.read() as s:
                allowed = list(s.scalars(select(OperatorPasskey.credential_id)
                                         .where(OperatorPasskey.operator_id
                                                == live.operator_id)))
        options, challenge = self.relying.authentication_options(allowed)
        if live is not None:
            self.sessions.set_challenge(live.session_id, "auth:" + challenge)
        return options, challenge

    def passkey_assert(self, credential: str, challenge: str, who: Who, *,
                       live: Live | None, purpose: str = "signin") -> str | None:
        """Verify an assertion; a new full session's cookie, or None (audited)."""
        now = self.now()
        try:
            cred_id, handle = credential_ids(credential)
        except (ValueError, KeyError, TypeError):
            cred_id, handle = "", None
        with self._db.session() as s:
            pk = s.scalar(select(OperatorPasskey).where(OperatorPasskey.credential_id == cred_id)
                          .with_for_update()) if cred_id else None
            op = s.get(Operator, pk.operator_id) if pk is not None else None
            reason = None
            if pk is None or op is None:
                reason = "unknown_credential"
            elif live is not None and op.id != live.operator_id:
                reason = "other_operator"
            elif handle is not None and not hmac.compare_digest(
                    base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4)),
                    op.user_handle.encode()):
                reason = "user_handle_mismatch"
            elif op.status != "active":
                reason = "not_active"
            new_count = None
            if reason is None:
                assert pk is not None
                try:
                    new_count = self.relying.verify_authentication(
                        credential, challenge, pk.public_key, pk.sign_count)
                except CEREMONY_ERRORS as exc:
                    reason = type(exc).__name__
            if reason is not None or op is None or pk is None or new_count is None:
                actor = op.id if op is not None else None
                self._record(s, operator_event(
                    "operator.mfa_failed" if live is not None else "operator.signin_failed",
                    actor_id=actor, target_id=actor, outcome="failure", ip=who.ip,
                    request_id=who.request_id, factor="passkey", reason=reason))
                return None
            pk.sign_count = new_count
            pk.last_used_at = now
            if live is None:  # username-less: the passkey is both factors
                cookie = self.sessions.create(s, op.id, "full", ip=who.ip, mfa_at=now)
                self._audit.record_in(s, operator_event(
                    "operator.signed_in", actor_id=op.id, target_id=op.id, ip=who.ip,
                    request_id=who.request_id, factor="passkey"))
                return cookie
            return self._second_factor_ok(s, op.id, live, who, "passkey", purpose, now)

    # -- account ---------------------------------------------------------------------------------
    def account(self, operator_id: str) -> tuple[Operator, list[OperatorPasskey], int]:
        with self._db.read() as s:
            op = s.get(Operator, operator_id)
            assert op is not None
            passkeys = list(s.scalars(select(OperatorPasskey)
                                      .where(OperatorPasskey.operator_id == operator_id)
                                      .order_by(OperatorPasskey.created_at)))
            codes = len(list(s.scalars(select(OperatorRecoveryCode.id)
                                       .where(OperatorRecoveryCode.operator_id == operator_id,
                                              OperatorRecoveryCode.used_at.is_(None)))))
            s.expunge_all()
            return op, passkeys, codes

    def regenerate_recovery_codes(self, live: Live, who: Who) -> list[str]:
        with self._db.session() as s:
            codes = self._new_recovery_codes(s, live.operator_id)
            self._audit.record_in(s, operator_event(
                "operator.recovery_codes_regenerated", actor_id=live.operator_id,
                target_id=live.operator_id, ip=who.ip, request_id=who.request_id))
        return codes

    def remove_factor(self, live: Live, factor: str, who: Who) -> bool:
        """Remove TOTP (`totp`) or a passkey (its id); refused when it is the last factor."""
        with self._db.session() as s:
            op = s.get(Operator, live.operator_id, with_for_update=True)
            assert op is not None
            passkeys = list(s.scalars(select(OperatorPasskey)
                                      .where(OperatorPasskey.operator_id == op.id)))
            total = len(passkeys) + (1 if op.totp_secret is not None else 0)
            if factor == "totp":
                target_ok = op.totp_secret is not None
            else:
                target_ok = any(p.id == factor for p in passkeys)
            if not target_ok or total <= 1:
                return False
            if factor == "totp":
                op.totp_secret = None
                op.totp_last_step = None
            else:
                s.execute(delete(OperatorPasskey).where(OperatorPasskey.id == factor,
                                                        OperatorPasskey.operator_id == op.id))
            revoked = revoke_sessions(s, op.id, self.now(), keep=live.session_id)
            self._audit.record_in(s, operator_event(
                "operator.mfa_removed", actor_id=op.id, target_id=op.id, ip=who.ip,
                request_id=who.request_id, factor="totp" if factor == "totp" else "passkey",
                other_sessions_revoked=revoked))
            return True

    def sign_out(self, live: Live, who: Who, *, everywhere: bool = False) -> None:
        with self._db.session() as s:
            if everywhere:
                count = revoke_sessions(s, live.operator_id, self.now())
            else:
                self.sessions.revoke(s, live.session_id)
                count = 1
            self._audit.record_in(s, operator_event(
                "operator.sessions_revoked" if everywhere else "operator.signed_out",
                actor_id=live.operator_id, target_id=live.operator_id, ip=who.ip,
                request_id=who.request_id, sessions=count,
                reason="sign_out_everywhere" if everywhere else "sign_out"))

    def refused(self, live: Live, action: str, reason: str, who: Who, path: str) -> None:
        self._audit.record(operator_event(
            "operator.permission_refused", actor_id=live.operator_id, outcome="failure",
            ip=who.ip, request_id=who.request_id, permission=action, reason=reason,
            route=path[:200]))

    def csrf_failure(self, operator_id: str | None, who: Who, path: str) -> None:
        self._audit.record(operator_event(
            "operator.csrf_rejected", actor_id=operator_id, outcome="failure", ip=who.ip,
            request_id=who.request_id, route=path[:200]))

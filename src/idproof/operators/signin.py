"""Sign-in steps: password, then TOTP, recovery code or passkey (or a passkey alone)."""

from __future__ import annotations

import base64
import hmac
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idproof.operators import recovery, totp
from idproof.operators.accounts import normalize_email
from idproof.operators.audit_events import operator_event
from idproof.operators.models import (
    Operator,
    OperatorPasskey,
    OperatorRecoveryCode,
)
from idproof.operators.passkeys import CEREMONY_ERRORS, credential_ids
from idproof.operators.service_base import ConsoleBase, LoginResult, log
from idproof.operators.sessions import Live
from idproof.operators.who import Who


class SignInSteps(ConsoleBase):
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

"""Enrolment steps: the link's password, then a first TOTP secret or passkey."""

from __future__ import annotations

import base64

from sqlalchemy import select

from idproof.core.errors import Conflict, ValidationFailed
from idproof.core.ids import new_id
from idproof.operators import totp
from idproof.operators.accounts import revoke_sessions, token_hash
from idproof.operators.audit_events import operator_event
from idproof.operators.models import (
    Operator,
    OperatorEnrollment,
    OperatorPasskey,
)
from idproof.operators.passkeys import CEREMONY_ERRORS
from idproof.operators.passwords import password_problems
from idproof.operators.service_base import ISSUER, ConsoleBase, Enrolled
from idproof.operators.sessions import Live
from idproof.operators.who import Who


class EnrolmentSteps(ConsoleBase):
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

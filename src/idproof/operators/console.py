"""Console sign-in use cases: enrolment, password + second factor, step-up, account changes.

Every outcome that matters (sign-in, failure, lock, factor added or removed, session ended)
is an audit event with actor type `operator` and the operator's id, never an email. The steps
live in `enrolment` and `signin`; this class joins them and adds the account page's changes.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from idproof.operators.accounts import revoke_sessions
from idproof.operators.audit_events import operator_event
from idproof.operators.enrolment import EnrolmentSteps
from idproof.operators.models import (
    Operator,
    OperatorPasskey,
    OperatorRecoveryCode,
)
from idproof.operators.service_base import (
    Enrolled,
    LoginResult,
    context,
)
from idproof.operators.sessions import Live
from idproof.operators.signin import SignInSteps
from idproof.operators.who import Who

__all__ = ["ConsoleService", "Enrolled", "LoginResult", "Who", "context"]


class ConsoleService(EnrolmentSteps, SignInSteps):
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

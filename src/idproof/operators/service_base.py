"""The console service's shared state and the steps every second factor ends with."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.ids import new_id
from idproof.db.engine import Database
from idproof.operators import recovery
from idproof.operators.audit_events import operator_event
from idproof.operators.models import (
    Operator,
    OperatorEnrollment,
    OperatorRecoveryCode,
)
from idproof.operators.passkeys import Relying
from idproof.operators.passwords import PasswordHashing
from idproof.operators.policy import OperatorContext, Role
from idproof.operators.sealing import SecretSealer
from idproof.operators.sessions import ConsoleSessions, Live
from idproof.operators.throttle import SignInThrottle
from idproof.operators.who import Who

if TYPE_CHECKING:
    from idproof.operators.sso import SsoSignIn

log = structlog.get_logger("idproof.operators")
ISSUER = "idproof"


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


class ConsoleBase:
    """State shared by the enrolment, sign-in and account steps."""

    def __init__(self, db: Database, audit: AuditService, sessions: ConsoleSessions,
                 throttle: SignInThrottle, sealer: SecretSealer, recovery_pepper: bytes,
                 relying: Relying, clock: Clock | None = None, *,
                 csrf_key: bytes = b"", sso: SsoSignIn | None = None) -> None:
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
        # Single sign-on (operators.oidc settings); None when no provider is configured.
        self.sso = sso

    def now(self) -> datetime:
        return self._clock.now()

    def _record(self, s: Session | None, event: AuditEvent) -> None:
        if s is None:
            self._audit.record(event)
        else:
            self._audit.record_in(s, event)

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

"""Server-side console sessions: opaque random cookies (only their hash stored), idle and
absolute timeouts, rotation at every change of privilege, revocation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idproof.core.clock import Clock, SystemClock
from idproof.core.ids import new_id, random_token
from idproof.db.engine import Database
from idproof.operators.models import Operator, OperatorSession

# A session is touched at most this often (last_seen_at), not on every request.
_TOUCH_EVERY = timedelta(seconds=30)
STAGES = ("mfa", "enrolling", "full")


def cookie_hash(cookie: str) -> str:
    return hashlib.sha256(b"idproof/operator-session/v1/" + cookie.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Live:
    """A resolved session and the operator it belongs to."""

    session_id: str
    operator_id: str
    stage: str
    role: str
    tenants: tuple[str, ...]
    regions: tuple[str, ...]
    assigned_only: bool
    operator_status: str
    created_at: datetime
    expires_at: datetime
    mfa_at: datetime | None
    challenge: str | None
    enrollment_id: str | None


class ConsoleSessions:
    def __init__(self, db: Database, clock: Clock | None = None, *, idle: timedelta,
                 absolute: timedelta, pending: timedelta) -> None:
        self._db = db
        self._clock = clock or SystemClock()
        self.idle = idle
        self.absolute = absolute
        self.pending = pending

    def create(self, s: Session, operator_id: str, stage: str, *, ip: str | None,
               mfa_at: datetime | None = None, enrollment_id: str | None = None,
               expires_at: datetime | None = None) -> str:
        """A new session (its cookie is returned once; only its hash is stored)."""
        assert stage in STAGES
        now = self._clock.now()
        if expires_at is None:
            expires_at = now + (self.absolute if stage == "full" else self.pending)
        cookie = random_token(32)
        s.add(OperatorSession(id=new_id("ops"), operator_id=operator_id,
                              cookie_hash=cookie_hash(cookie), stage=stage, created_at=now,
                              last_seen_at=now, expires_at=expires_at, mfa_at=mfa_at,
                              ip=ip, enrollment_id=enrollment_id))
        return cookie

    def rotate(self, s: Session, live: Live, stage: str, *, ip: str | None,
               mfa_at: datetime | None, keep_expiry: bool = False) -> str:
        """End `live` and start its successor with a fresh cookie (privilege changed)."""
        now = self._clock.now()
        s.execute(update(OperatorSession).where(OperatorSession.id == live.session_id)
                  .values(revoked_at=now))
        return self.create(s, live.operator_id, stage, ip=ip, mfa_at=mfa_at,
                           enrollment_id=live.enrollment_id,
                           expires_at=live.expires_at if keep_expiry else None)

    def resolve(self, cookie: str | None) -> Live | None:
        """The live session for a cookie, or None (unknown, revoked, idle, expired, or the
        operator is disabled)."""
        if not cookie or len(cookie) > 128:
            return None
        return self._live(OperatorSession.cookie_hash == cookie_hash(cookie))

    def by_id(self, session_id: str) -> Live | None:
        """The same checks for a session named by id (a step-up coming back from the identity
        provider, where the SameSite=Strict cookie is not sent)."""
        return self._live(OperatorSession.id == session_id[:40])

    def _live(self, where: Any) -> Live | None:
        now = self._clock.now()
        with self._db.session() as s:
            row = s.execute(select(OperatorSession, Operator)
                            .join(Operator, Operator.id == OperatorSession.operator_id)
                            .where(where)).first()
            if row is None:
                return None
            sess, op = row
            if (sess.revoked_at is not None or sess.expires_at <= now
                    or now - sess.last_seen_at > self.idle or op.status == "disabled"):
                return None
            if sess.stage == "enrolling" and op.status != "pending":
                return None
            if now - sess.last_seen_at > _TOUCH_EVERY:
                sess.last_seen_at = now
            return Live(session_id=sess.id, operator_id=op.id, stage=sess.stage, role=op.role,
                        tenants=tuple(op.tenants), regions=tuple(op.regions),
                        assigned_only=op.assigned_only, operator_status=op.status,
                        created_at=sess.created_at, expires_at=sess.expires_at,
                        mfa_at=sess.mfa_at, challenge=sess.challenge,
                        enrollment_id=sess.enrollment_id)

    def set_challenge(self, session_id: str, challenge: str | None) -> None:
        with self._db.session() as s:
            s.execute(update(OperatorSession).where(OperatorSession.id == session_id)
                      .values(challenge=challenge))

    def revoke(self, s: Session, session_id: str) -> None:
        s.execute(update(OperatorSession).where(OperatorSession.id == session_id,
                                                OperatorSession.revoked_at.is_(None))
                  .values(revoked_at=self._clock.now()))

    def active(self, operator_id: str) -> list[OperatorSession]:
        now = self._clock.now()
        with self._db.read() as s:
            rows = s.scalars(select(OperatorSession)
                             .where(OperatorSession.operator_id == operator_id,
                                    OperatorSession.revoked_at.is_(None),
                                    OperatorSession.stage == "full",
                                    OperatorSession.expires_at > now)
                             .order_by(OperatorSession.created_at.desc()))
            return [r for r in rows if now - r.last_seen_at <= self.idle]

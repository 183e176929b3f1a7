"""Continue on a phone: a single-use, short-lived link for the same session, and the take-over.

The link is `/verify/h/<handoff id>.<secret>` (the shape the log scrubber redacts; no personal
data in it); only a SHA-256 of it is stored. Taking it is a conditional UPDATE, so two phones
racing on one QR code cannot both win. Once taken, the desktop's browser session may only
follow progress: its captures are refused, and a newer link replaces any unused older one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict
from idproof.core.ids import new_id, random_token
from idproof.db.engine import Database
from idproof.hosted.browser import start_browser_session
from idproof.hosted.models import Handoff
from idproof.verification.lifecycle import Status
from idproof.verification.models import VerificationSession

HANDOFF_TTL = timedelta(minutes=10)
OPEN = (Status.NOT_STARTED.value, Status.IN_PROGRESS.value)


def _digest(token: str) -> str:
    return hashlib.sha256(b"idproof/hosted-handoff/v1/" + token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Taken:
    """`ok` with the phone's new cookie and browser session id, or `invalid`, `used`,
    `ended` (the session is over or the link has expired)."""

    outcome: str
    cookie: str | None = None
    browser_id: str | None = None


class HandoffService:
    def __init__(self, db: Database, audit: AuditService, clock: Clock | None = None,
                 ttl: timedelta = HANDOFF_TTL) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock or SystemClock()
        self.ttl = ttl

    def create(self, *, browser_id: str, tenant_id: str, session_id: str, ip: str | None,
               request_id: str | None) -> str:
        """A new hand-off link token for this browser's session (older unused ones of the
        session stop working). Conflict when the session is over or already handed off."""
        if self.watching(browser_id):
            raise Conflict("this verification continues on another device",
                           code="handed_off")
        now = self._clock.now()
        hid = new_id("hof")
        token = f"{hid}.{random_token(32)}"
        with self._db.session() as s:
            row = s.get(VerificationSession, session_id, with_for_update=True)
            if row is None or row.tenant_id != tenant_id or row.status not in OPEN \
                    or row.expires_at <= now:
                raise Conflict("the verification is over", code="session_closed")
            s.execute(delete(Handoff).where(Handoff.session_id == session_id,
                                            Handoff.used_at.is_(None)))
            s.add(Handoff(id=hid, token_hash=_digest(token), session_id=session_id,
                          tenant_id=tenant_id, from_browser_id=browser_id, created_at=now,
                          expires_at=min(now + self.ttl, row.expires_at)))
            self._audit.record_in(s, AuditEvent(
                action="hosted.handoff_created", actor_type="end_user", actor_id=browser_id,
                tenant_id=tenant_id, target_type="session", target_id=session_id, ip=ip,
                request_id=request_id, details={"handoff_id": hid}))
        return token

    def take(self, token: str, *, ip: str | None, request_id: str | None) -> Taken:
        """The second device opens the link: it gets a browser session of its own, and the
        first device's one is demoted to following (audited)."""
        if len(token) > 128 or "." not in token:
            return Taken("invalid")
        now = self._clock.now()
        with self._db.session() as s:
            row = s.scalar(select(Handoff).where(Handoff.token_hash == _digest(token)))
            if row is None:
                return Taken("invalid")
            session = s.get(VerificationSession, row.session_id)
            if session is None or session.status not in OPEN or session.expires_at <= now:
                return Taken("ended")
            claimed = cast(CursorResult[Any], s.execute(
                update(Handoff).where(Handoff.id == row.id, Handoff.used_at.is_(None),
                                      Handoff.expires_at > now)
                .values(used_at=now))).rowcount
            if claimed != 1:
                self._audit.record_in(s, AuditEvent(
                    action="hosted.handoff_reused", outcome="failure", actor_type="end_user",
                    tenant_id=row.tenant_id, target_type="session", target_id=row.session_id,
                    ip=ip, request_id=request_id, details={"handoff_id": row.id}))
                return Taken("ended" if row.expires_at <= now else "used")
            browser_id, cookie = start_browser_session(
                s, session_id=session.id, tenant_id=session.tenant_id,
                session_expires=session.expires_at, now=now)
            row.taken_by = browser_id
            self._audit.record_in(s, AuditEvent(
                action="hosted.handoff_taken", actor_type="end_user", actor_id=browser_id,
                tenant_id=row.tenant_id, target_type="session", target_id=row.session_id,
                ip=ip, request_id=request_id,
                details={"handoff_id": row.id, "from": row.from_browser_id}))
        return Taken("ok", cookie, browser_id)

    def watching(self, browser_id: str) -> bool:
        """True once another device took over from this browser: it may only follow."""
        with self._db.read() as s:
            return s.scalar(select(Handoff.id).where(
                Handoff.from_browser_id == browser_id, Handoff.used_at.is_not(None))
                .limit(1)) is not None

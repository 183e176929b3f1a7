"""Screening hit review: list a tenant's hits, mark one a true (confirmed) or false positive."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, NotFound, ValidationFailed
from idproof.core.ids import new_id
from idproof.db.engine import Database
from idproof.screening.matching import Hit
from idproof.screening.models import ScreeningHit

VERDICTS = ("confirmed", "dismissed")  # a true positive, a false positive
STATUSES = ("open", *VERDICTS)
MAX_NOTE = 2000


@dataclass(frozen=True, slots=True)
class HitView:
    id: str
    tenant_id: str
    session_id: str
    source: str
    entry_id: str
    listed_name: str
    score: float
    explanation: str
    origin: str
    status: str
    note: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    created_at: datetime


def _view(r: ScreeningHit) -> HitView:
    return HitView(r.id, r.tenant_id, r.session_id, r.source, r.entry_id, r.listed_name,
                   r.score, r.explanation, r.origin, r.status, r.note, r.reviewed_by,
                   r.reviewed_at, r.created_at)


def check_review(verdict: str, note: str) -> str:
    """The note, stripped, when the verdict and note are acceptable (pure)."""
    if verdict not in VERDICTS:
        raise ValidationFailed("the verdict is confirmed or dismissed", code="verdict_invalid")
    note = note.strip()
    if not note:
        raise ValidationFailed("say why in a note", code="note_required")
    if len(note) > MAX_NOTE or not all(c.isprintable() or c in "\n\r\t" for c in note):
        raise ValidationFailed("the note is too long or holds control characters",
                               code="note_invalid")
    return note


class HitReview:
    """Reads and decides screening hits within the tenants a caller may see."""

    def __init__(self, db: Database, audit: AuditService, clock: Clock | None = None) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock or SystemClock()

    def by_status(self, tenants: Collection[str], status: str = "open",
             limit: int = 100) -> list[HitView]:
        if status not in STATUSES:
            raise ValidationFailed("unknown status", code="status_invalid")
        with self._db.read() as s:
            q = (select(ScreeningHit).where(ScreeningHit.tenant_id.in_(sorted(tenants)),
                                            ScreeningHit.status == status)
                 .order_by(ScreeningHit.created_at.desc(), ScreeningHit.id).limit(limit))
            return [_view(r) for r in s.scalars(q)]

    def get(self, tenants: Collection[str], hit_id: str) -> HitView:
        with self._db.read() as s:
            row = s.get(ScreeningHit, hit_id)
            if row is None or row.tenant_id not in tenants:
                raise NotFound("no such screening hit", code="hit_not_found")
            return _view(row)

    def for_session(self, tenant_id: str, session_id: str) -> list[HitView]:
        with self._db.read() as s:
            q = (select(ScreeningHit).where(ScreeningHit.tenant_id == tenant_id,
                                            ScreeningHit.session_id == session_id)
                 .order_by(ScreeningHit.score.desc(), ScreeningHit.id))
            return [_view(r) for r in s.scalars(q)]

    def decide(self, tenants: Collection[str], hit_id: str, verdict: str, note: str, *,
               operator_id: str, ip: str | None = None,
               request_id: str | None = None) -> HitView:
        """Mark an open hit confirmed or dismissed, with a note; audited. A hit already
        decided is a Conflict (two reviewers at once: the first one wins)."""
        note = check_review(verdict, note)
        self.get(tenants, hit_id)
        now = self._clock.now()
        with self._db.session() as s:
            done = s.execute(update(ScreeningHit).where(
                ScreeningHit.id == hit_id, ScreeningHit.status == "open").values(
                status=verdict, note=note, reviewed_by=operator_id, reviewed_at=now))
            if getattr(done, "rowcount", 0) != 1:
                raise Conflict("this hit was already reviewed", code="hit_already_reviewed")
            row = s.get(ScreeningHit, hit_id)
            assert row is not None
            # The note may name the person: it stays in the table, not in the audit details.
            self._audit.record_in(s, AuditEvent(
                action="screening.hit_reviewed", actor_type="operator", actor_id=operator_id,
                tenant_id=row.tenant_id, target_type="session", target_id=row.session_id,
                ip=ip, request_id=request_id,
                details={"hit": hit_id, "verdict": verdict, "source": row.source,
                         "entry": row.entry_id, "score": row.score, "note": True}))
        return self.get(tenants, hit_id)


def open_step_cases(s: Session, tenant_id: str, session_id: str, hits: Sequence[Hit],
                    snapshots: Mapping[str, str], audit: AuditService, now: datetime) -> int:
    """The workflow step's hits as open review cases, in the step's own transaction (one per
    list entry and session; a case known already stays as it is). How many were new."""
    new = 0
    for hit in hits:
        if s.scalar(select(ScreeningHit.id).where(
                ScreeningHit.session_id == session_id, ScreeningHit.source == hit.source,
                ScreeningHit.entry_id == hit.entry_id)) is not None:
            continue
        row = ScreeningHit(
            id=new_id("hit"), tenant_id=tenant_id, session_id=session_id, source=hit.source,
            entry_id=hit.entry_id, snapshot_id=snapshots.get(hit.source, "unknown"),
            listed_name=hit.name[:300], score=hit.score, explanation=hit.explanation[:500],
            origin="step", status="open", created_at=now)
        s.add(row)
        audit.record_in(s, AuditEvent(
            action="screening.hit_found", actor_type="system", tenant_id=tenant_id,
            target_type="session", target_id=session_id,
            details={"hit": row.id, "source": hit.source, "entry": hit.entry_id,
                     "score": hit.score, "origin": "step"}))
        new += 1
    return new

"""Review console use cases: the queue with SLA, assignment, the case view, images, reveal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.models import AuditEventRow
from idproof.auth.models import Tenant
from idproof.core.cursors import decode_cursor, encode_cursor
from idproof.core.errors import NotFound, ValidationFailed
from idproof.operators.models import Operator
from idproof.operators.policy import OperatorContext
from idproof.verification.lifecycle import Status
from idproof.verification.models import (
    Capture,
    ReviewAssignment,
    ReviewProposal,
    ReviewSettings,
    SessionReason,
    SessionStep,
    VerificationSession,
)

PAGE = 50
# Audit details shown in a case's timeline (engine results, never personal data).
TIMELINE_DETAILS = ("side", "state", "reasons", "step", "status", "decision", "steps",
                    "cause", "pad_score", "similarity", "distance", "attempt", "via",
                    "first_reviewer", "operator", "note")


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: str
    tenant_id: str
    tenant: str
    workflow: str
    reference: str
    reasons: list[str]
    entered_at: datetime
    age: timedelta
    due_at: datetime
    overdue: bool
    assignee: str | None
    proposal: str | None


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[QueueItem]
    next_cursor: str | None
    total_overdue: int = 0


@dataclass(frozen=True, slots=True)
class CaseView:
    session: VerificationSession
    tenant: str
    steps: list[SessionStep]
    reasons: list[str]
    checks: dict[str, Any]
    timeline: list[dict[str, Any]]
    images: list[Capture]
    assignee: str | None
    proposal: ReviewProposal | None
    due_at: datetime | None
    overdue: bool
    version: str
    reviewers: list[tuple[str, str]] = field(default_factory=list)




def visible_tenants(s: Session, op: OperatorContext) -> dict[str, Tenant]:
    """The tenants an operator may see (its tenants, within its regions)."""
    stmt = select(Tenant)
    if op.tenants is not None:
        stmt = stmt.where(Tenant.id.in_(sorted(op.tenants)))
    if op.regions is not None:
        stmt = stmt.where(Tenant.region.in_(sorted(op.regions)))
    return {t.id: t for t in s.scalars(stmt)}


def reason_filter(reason: str) -> Any:
    """Sessions whose decision lists `reason`: a lookup in `session_reasons` (written with
    the decision) by its primary key, not a search in the decision's JSON text."""
    if not reason.replace("_", "").isalnum():
        raise ValidationFailed("unknown reason", code="invalid_reason")
    return exists().where(SessionReason.session_id == VerificationSession.id,
                          SessionReason.reason == reason)


class ReviewConsole:
    def __init__(self, container: Any) -> None:
        self.c = container

    def now(self) -> datetime:
        return self.c.clock.now()  # type: ignore[no-any-return]

    # -- the queue ---------------------------------------------------------------------------
    def queue(self, op: OperatorContext, *, tenant: str | None = None,
              workflow: str | None = None, reason: str | None = None,
              assigned: str | None = None, overdue: bool = False,
              cursor: str | None = None, limit: int = PAGE) -> QueuePage:
        now = self.now()
        with self.c.db.read() as s:
            tenants = visible_tenants(s, op)
            ids = [t for t in tenants if tenant in (None, "", t, tenants[t].name)]
            if not ids:
                return QueuePage([], None)
            sla = {r.tenant_id: r.sla_hours for r in s.scalars(
                select(ReviewSettings).where(ReviewSettings.tenant_id.in_(ids)))}
            stmt = (select(VerificationSession, ReviewAssignment.operator_id)
                    .outerjoin(ReviewAssignment,
                               ReviewAssignment.session_id == VerificationSession.id)
                    .where(VerificationSession.tenant_id.in_(ids),
                           VerificationSession.status == Status.IN_REVIEW.value))
            if workflow:
                stmt = stmt.where(VerificationSession.workflow_id == workflow)
            if reason:
                stmt = stmt.where(reason_filter(reason))
            if op.assigned_only or assigned == "me":
                stmt = stmt.where(ReviewAssignment.operator_id == op.id)
            elif assigned == "none":
                stmt = stmt.where(ReviewAssignment.operator_id.is_(None))
            if overdue:
                # per tenant: entered review before now - its SLA
                stmt = stmt.where(or_(*[and_(VerificationSession.tenant_id == t,
                                             VerificationSession.decided_at
                                             <= now - timedelta(hours=sla.get(t, 24)))
                                        for t in ids]))
            if cursor:
                at, sid = decode_cursor(cursor)
                stmt = stmt.where(or_(VerificationSession.decided_at > at,
                                      and_(VerificationSession.decided_at == at,
                                           VerificationSession.id > sid)))
            stmt = stmt.order_by(VerificationSession.decided_at.asc(),
                                 VerificationSession.id.asc()).limit(limit + 1)
            rows = s.execute(stmt).all()
            more = len(rows) > limit
            rows = rows[:limit]
            open_props = set(s.scalars(select(ReviewProposal.session_id).where(
                ReviewProposal.session_id.in_([r[0].id for r in rows]),
                ReviewProposal.resolved_at.is_(None))))
            items = []
            for row, assignee in rows:
                entered = row.decided_at or row.updated_at
                due = entered + timedelta(hours=sla.get(row.tenant_id, 24))
                items.append(QueueItem(
                    id=row.id, tenant_id=row.tenant_id, tenant=tenants[row.tenant_id].name,
                    workflow=row.workflow_id, reference=row.reference,
                    reasons=list((row.decision or {}).get("reasons", [])), entered_at=entered,
                    age=now - entered, due_at=due, overdue=now > due, assignee=assignee,
                    proposal="pending" if row.id in open_props else None))
        nxt = (encode_cursor(rows[-1][0].decided_at or rows[-1][0].updated_at, rows[-1][0].id)
               if more and rows else None)
        return QueuePage(items, nxt)

    # -- one case ----------------------------------------------------------------------------
    def locate(self, op: OperatorContext, session_id: str) -> tuple[str, str, str | None]:
        """(tenant id, region, assignee) of a session the operator could see, else 404."""
        with self.c.db.read() as s:
            row = s.execute(select(VerificationSession.tenant_id, Tenant.region,
                                   ReviewAssignment.operator_id)
                            .join(Tenant, Tenant.id == VerificationSession.tenant_id)
                            .outerjoin(ReviewAssignment,
                                       ReviewAssignment.session_id == VerificationSession.id)
                            .where(VerificationSession.id == session_id)).first()
        if row is None:
            raise NotFound("not found", code="session_not_found")
        return row[0], row[1], row[2]

    def case(self, session_id: str, *, with_images: bool) -> CaseView:
        now = self.now()
        with self.c.db.read() as s:
            row = s.get(VerificationSession, session_id)
            if row is None:
                raise NotFound("not found", code="session_not_found")
            tenant = s.get(Tenant, row.tenant_id)
            wf = self.c.sessions._workflow_or_none(row)
            steps = self.c.sessions._steps(s, row.id, wf)
            assignee = s.scalar(select(ReviewAssignment.operator_id)
                                .where(ReviewAssignment.session_id == row.id))
            proposal = s.scalar(select(ReviewProposal).where(
                ReviewProposal.session_id == row.id, ReviewProposal.resolved_at.is_(None)))
            events = s.scalars(select(AuditEventRow).where(
                AuditEventRow.target_type == "session", AuditEventRow.target_id == row.id)
                .order_by(AuditEventRow.idx).limit(500)).all()
            timeline = [{"at": e.occurred_at, "action": e.action, "actor": e.actor_type,
                         "outcome": e.outcome,
                         "details": {k: v for k, v in (e.details or {}).items()
                                     if k in TIMELINE_DETAILS}} for e in events]
            images = []
            if with_images:
                images = list(s.scalars(select(Capture).where(
                    Capture.session_id == row.id, Capture.deleted_at.is_(None),
                    Capture.delete_after > now).order_by(Capture.created_at)))
            settings = self.c.sessions.review_settings(row.tenant_id, s)
            due = overdue = None
            if row.status == Status.IN_REVIEW.value and row.decided_at is not None:
                due = row.decided_at + timedelta(hours=settings.sla_hours)
                overdue = now > due
            reviewers = [(o.id, o.id) for o in s.scalars(
                select(Operator).where(Operator.role.in_(["reviewer", "owner"]),
                                       Operator.status == "active"))
                         if not o.tenants or row.tenant_id in o.tenants]
            d = row.decision or {}
            return CaseView(session=row, tenant=tenant.name if tenant else row.tenant_id,
                            steps=steps,
                            reasons=list(d.get("automatic_reasons", d.get("reasons", []))),
                            checks=dict(d.get("checks", {})), timeline=timeline,
                            images=images, assignee=assignee, proposal=proposal,
                            due_at=due, overdue=bool(overdue),
                            version=self.c.sessions.version_of(row), reviewers=reviewers)

    def image(self, session_id: str, capture_id: str) -> bytes | None:
        """A retained image, decrypted in memory (None once deleted or due)."""
        now = self.now()
        with self.c.db.read() as s:
            cap = s.get(Capture, capture_id)
            row = s.get(VerificationSession, session_id)
            if (cap is None or row is None or cap.session_id != session_id
                    or cap.deleted_at is not None or cap.delete_after <= now):
                return None
            tenant_id, subject, blob_key = row.tenant_id, row.subject_key_id, cap.blob_key
        prot = self.c.protection
        key_id = prot.subject_key(tenant_id, subject)
        data: bytes = prot.decrypt(tenant_id, "session_captures", "image", capture_id, key_id,
                                   self.c.captures._blobs.get(blob_key))
        return data

    def record(self, event: AuditEvent) -> None:
        self.c.audit.record(event)

    # -- assignment --------------------------------------------------------------------------
    def assign(self, actor_id: str, session_id: str, tenant_id: str, to: str | None,
               *, ip: str | None, request_id: str | None) -> None:
        """Assign a session in review to `to` (None: release it)."""
        with self.c.db.session() as s:
            row = s.get(VerificationSession, session_id)
            if row is None or row.tenant_id != tenant_id:
                raise NotFound("not found", code="session_not_found")
            if row.status != Status.IN_REVIEW.value:
                from idproof.core.errors import Conflict
                raise Conflict("the session is not in review", code="not_in_review")
            s.execute(delete(ReviewAssignment).where(ReviewAssignment.session_id == row.id))
            if to is not None:
                target = s.get(Operator, to)
                if (target is None or target.status != "active"
                        or target.role not in ("reviewer", "owner")
                        or (target.tenants and tenant_id not in target.tenants)):
                    raise ValidationFailed("that operator cannot review this tenant",
                                           code="invalid_assignee")
                s.add(ReviewAssignment(session_id=row.id, tenant_id=tenant_id,
                                       operator_id=to, assigned_by=actor_id,
                                       assigned_at=self.now()))
            self.c.audit.record_in(s, AuditEvent(
                action="session.assigned" if to else "session.released",
                actor_type="operator", actor_id=actor_id, tenant_id=tenant_id,
                target_type="session", target_id=row.id, ip=ip, request_id=request_id,
                details={"operator": to} if to else {}))

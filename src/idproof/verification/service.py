"""Session use cases: create (idempotent), read, list, submit, decide, expire."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, Gone, NotFound, ValidationFailed
from idproof.core.events import SESSION_EVENTS, EventBus, SessionEvent
from idproof.core.ids import new_id
from idproof.db.engine import Database
from idproof.db.tenancy import get_owned, scoped
from idproof.verification.decision import (
    Decision,
    StepResult,
    StepState,
    decide,
    incomplete_steps,
    ready,
)
from idproof.verification.lifecycle import Status, accepts_captures, lapsed, transition
from idproof.verification.links import LinkSigner
from idproof.verification.models import (
    Capture,
    ReviewProposal,
    ReviewSettings,
    SessionDocument,
    SessionStep,
    VerificationSession,
)
from idproof.verification.reasons import set_decision
from idproof.verification.review import (
    ReviewRequest,
    needs_second_reviewer,
    review_version,
    validate,
)
from idproof.verification.schemas import (
    CreateSession,
    DecisionView,
    SessionPage,
    SessionView,
    StepView,
)
from idproof.workflows.catalog import Workflow, builtin_workflows, get_workflow
from idproof.workflows.service import WorkflowService


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: an API client of a tenant (or the system), or the end user in the
    hosted flow (actor_type "end_user", client_id then names their browser session)."""

    tenant_id: str
    client_id: str | None = None
    ip: str | None = None
    request_id: str | None = None
    actor_type: str = "client"


def _fingerprint(body: CreateSession) -> str:
    # `version` only when given: fingerprints of requests from before it existed still match
    data = body.model_dump(mode="json", exclude={"version"} if body.version is None else None)
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    """What a review did: the session's status, whether a second reviewer must confirm,
    and for a resubmit the reissued hosted link."""

    session_id: str
    status: str
    decision: str
    reasons: tuple[str, ...]
    steps: tuple[str, ...]
    pending_second_review: bool
    version: str
    url: str | None = None


def _encode_cursor(created_at: datetime, sid: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{sid}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        ts, sid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(ts), sid
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValidationFailed("the cursor is not valid", code="invalid_cursor") from None


class SessionService:
    """Owns verification sessions: creates, reads, changes their status and publishes their
    lifecycle events (`core.events`) inside the transaction of each change."""

    def __init__(self, db: Database, audit: AuditService, links: LinkSigner, public_url: str,
                 events: EventBus, clock: Clock | None = None,
                 workflows: WorkflowService | None = None) -> None:
        self._db = db
        self._audit = audit
        self._links = links
        self._public_url = public_url
        self._events = events
        self._clock = clock or SystemClock()
        # Tenant workflows: sessions may run (and stay pinned to) their versions.
        self._workflows = workflows

    def emit(self, s: Session, row: VerificationSession, event_type: str) -> None:
        """Publish the lifecycle event `event_type` (session.created/started/submitted/
        reviewed/decided/expired/cancelled/erased) in the transaction of `s`."""
        self._events.publish(s, SESSION_EVENTS[event_type](tenant_id=row.tenant_id,
                                                           session_id=row.id))

    def event_payload(self, s: Session, event: SessionEvent) -> dict[str, Any]:
        """What the webhook of a session event says (see `event_data`)."""
        row = s.get(VerificationSession, event.session_id)
        if row is None:  # published in this very transaction: cannot be gone
            raise LookupError("the session of an event published in this transaction")
        return self.event_data(row, event.name)

    def event_data(self, row: VerificationSession, event_type: str) -> dict[str, Any]:
        """What a session event says: ids, status, booleans and reason codes, never PII."""
        data: dict[str, Any] = {"session_id": row.id, "status": row.status,
                                "workflow": row.workflow_id, "reference": row.reference}
        if event_type == "session.decided":
            view = self._decision_view(row)
            data["decision"] = view.model_dump(mode="json", exclude={"id", "status"})
        if event_type == "session.reviewed":
            # The note is free text (it may name the person): never in a webhook.
            review = dict(getattr(row, "_last_review", None) or {})
            data["review"] = {k: review.get(k) for k in
                              ("decision", "reasons", "steps", "reviewer_type")}
        return data

    # -- views ---------------------------------------------------------------------------
    def url_for(self, session_id: str) -> str:
        return f"{self._public_url}/verify/{self._links.token(session_id)}"

    @staticmethod
    def _view(row: VerificationSession, steps: list[SessionStep]) -> SessionView:
        return SessionView(
            id=row.id, status=row.status, workflow=row.workflow_id,
            workflow_version=row.workflow_version, reference=row.reference, locale=row.locale,
            metadata=row.meta or {},
            steps=[StepView(step=s.step, state=s.state, reasons=list(s.reasons or []),
                            attempts=s.attempts) for s in steps],
            created_at=row.created_at, expires_at=row.expires_at,
            submitted_at=row.submitted_at, decided_at=row.decided_at)

    @staticmethod
    def _steps(s: Session, session_id: str, workflow: Workflow | None = None
               ) -> list[SessionStep]:
        rows = {r.step: r for r in s.scalars(select(SessionStep)
                                             .where(SessionStep.session_id == session_id))}
        order = list(workflow.steps) if workflow else sorted(rows)
        return [rows[k] for k in order if k in rows]

    def workflow_of(self, row: VerificationSession) -> Workflow:
        """The exact version the session was created with: a built-in, or a tenant's
        stored version (whatever its status now)."""
        wf = self._workflow_or_none(row)
        if wf is None:
            raise Conflict("the session's workflow version is not available",
                           code="workflow_unavailable")
        return wf

    def _workflow_or_none(self, row: VerificationSession) -> Workflow | None:
        builtin = get_workflow(row.workflow_id)
        if builtin is not None:
            return builtin if builtin.version == row.workflow_version else None
        if self._workflows is None:
            return None
        try:
            return self._workflows.load(row.tenant_id, row.workflow_id, row.workflow_version,
                                        object_session(row))
        except NotFound:
            return None

    # -- create --------------------------------------------------------------------------
    def create(self, actor: Actor, body: CreateSession,
               idempotency_key: str | None = None) -> tuple[SessionView, str, bool]:
        """Returns (view, url, replayed)."""
        if self._workflows is not None:
            wf = self._workflows.resolve(actor.tenant_id, body.workflow, body.version)
        else:
            found = get_workflow(body.workflow)
            if found is None or body.version not in (None, found.version):
                raise ValidationFailed("unknown workflow", code="unknown_workflow")
            wf = found
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
            raise ValidationFailed("Idempotency-Key must be 1 to 255 characters",
                                   code="invalid_idempotency_key")
        fingerprint = _fingerprint(body)
        now = self._clock.now()
        row = VerificationSession(
            id=new_id("ses"), tenant_id=actor.tenant_id, client_id=actor.client_id or "",
            workflow_id=wf.id, workflow_version=wf.version, reference=body.reference,
            status=Status.NOT_STARTED.value, locale=body.locale, callback_url=body.callback_url,
            meta=dict(body.metadata), subject_key_id=new_id("sub"), created_at=now,
            updated_at=now, expires_at=now + timedelta(seconds=body.expires_in),
            idempotency_key=idempotency_key, request_hash=fingerprint)
        try:
            with self._db.session() as s:
                s.add(row)
                s.flush()
                for step in wf.steps:
                    s.add(SessionStep(session_id=row.id, step=step,
                                      state=StepState.PENDING.value, reasons=[], facts={},
                                      attempts=0, updated_at=now))
                self._audit.record_in(s, AuditEvent(
                    action="session.created", actor_type="client", actor_id=actor.client_id,
                    tenant_id=actor.tenant_id, target_type="session", target_id=row.id,
                    ip=actor.ip, request_id=actor.request_id,
                    details={"workflow": wf.ref}))
                self.emit(s, row, "session.created")
                steps = self._steps(s, row.id, wf)
                view = self._view(row, steps)
        except IntegrityError:
            if idempotency_key is None:
                raise
            return self._replay(actor, idempotency_key, fingerprint)
        return view, self.url_for(row.id), False

    def _replay(self, actor: Actor, key: str, fingerprint: str
                ) -> tuple[SessionView, str, bool]:
        with self._db.read() as s:
            row = s.scalar(scoped(VerificationSession, actor.tenant_id)
                           .where(VerificationSession.idempotency_key == key))
            if row is None:  # pragma: no cover - the conflicting row was erased meanwhile
                raise Conflict("retry the request", code="idempotency_conflict")
            if row.request_hash != fingerprint:
                raise ValidationFailed("this Idempotency-Key was used with another request",
                                       code="idempotency_key_reused")
            view = self._view(row, self._steps(s, row.id))
        return view, self.url_for(row.id), True

    # -- reads ---------------------------------------------------------------------------
    def get(self, tenant_id: str, session_id: str) -> SessionView:
        with self._db.read() as s:
            row = get_owned(s, VerificationSession, session_id, tenant_id,
                            code="session_not_found")
            return self._view(row, self._steps(s, row.id, self._workflow_or_none(row)))

    def list(self, tenant_id: str, *, status: str | None = None, reference: str | None = None,
             created_after: datetime | None = None, created_before: datetime | None = None,
             limit: int = 50, cursor: str | None = None) -> SessionPage:
        stmt = scoped(VerificationSession, tenant_id)
        if status is not None:
            if status not in {st.value for st in Status}:
                raise ValidationFailed("unknown status", code="invalid_status")
            stmt = stmt.where(VerificationSession.status == status)
        if reference is not None:
            stmt = stmt.where(VerificationSession.reference == reference)
        if created_after is not None:
            stmt = stmt.where(VerificationSession.created_at >= created_after)
        if created_before is not None:
            stmt = stmt.where(VerificationSession.created_at < created_before)
        if cursor:
            ts, sid = _decode_cursor(cursor)
            stmt = stmt.where(or_(VerificationSession.created_at < ts,
                                  and_(VerificationSession.created_at == ts,
                                       VerificationSession.id < sid)))
        stmt = stmt.order_by(VerificationSession.created_at.desc(),
                             VerificationSession.id.desc()).limit(limit + 1)
        with self._db.read() as s:
            rows = list(s.scalars(stmt))
            more = len(rows) > limit
            rows = rows[:limit]
            views = [self._view(r, self._steps(s, r.id, self._workflow_or_none(r)))
                     for r in rows]
        nxt = _encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
        return SessionPage(data=views, next_cursor=nxt)

    def decision(self, tenant_id: str, session_id: str) -> DecisionView:
        with self._db.read() as s:
            row = get_owned(s, VerificationSession, session_id, tenant_id,
                            code="session_not_found")
        return self._decision_view(row)

    def _decision_view(self, row: VerificationSession) -> DecisionView:
        wf = self._workflow_or_none(row)
        min_age = wf.minimum_age if wf else 18
        d: dict[str, Any] = row.decision or {}
        checks: dict[str, Any] = d.get("checks", {})
        return DecisionView(
            id=row.id, status=row.status, decided=row.decision is not None,
            is_verified=bool(checks.get("is_verified", False)),
            document_valid=checks.get("document_valid"),
            age_over_18=checks.get("age_over_18"), face_match=checks.get("face_match"),
            liveness_passed=checks.get("liveness_passed"), minimum_age=min_age,
            age_over_minimum=checks.get(f"age_over_{min_age}"),
            reasons=list(d.get("reasons", [])), decided_at=row.decided_at)

    # -- state changes -------------------------------------------------------------------
    def load_for_update(self, s: Session, tenant_id: str, session_id: str
                        ) -> VerificationSession:
        stmt = scoped(VerificationSession, tenant_id).where(
            VerificationSession.id == session_id)
        if self._db.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = s.scalar(stmt)
        if row is None:
            raise NotFound("not found", code="session_not_found")
        return row

    def ensure_open(self, row: VerificationSession) -> None:
        """Captures are accepted only while the session is open and not past its expiry:
        410 `session_expired` once its time ran out (the sweep may not have closed it yet),
        409 `session_closed` once it was submitted or decided."""
        status = Status(row.status)
        if status in (Status.EXPIRED, Status.ABANDONED) or (
                row.expires_at <= self._clock.now() and accepts_captures(status)):
            raise Gone("the session has expired", code="session_expired")
        if not accepts_captures(status):
            raise Conflict(f"the session is {row.status}", code="session_closed")

    def set_status(self, s: Session, row: VerificationSession, target: Status) -> None:
        row.status = transition(Status(row.status), target).value
        row.updated_at = self._clock.now()
        if target == Status.IN_PROGRESS:
            self.emit(s, row, "session.started")
        elif target in (Status.EXPIRED, Status.ABANDONED):  # both: its time ran out
            self.emit(s, row, "session.expired")

    def submit(self, actor: Actor, session_id: str) -> SessionView:
        with self._db.session() as s:
            row = self.load_for_update(s, actor.tenant_id, session_id)
            if row.submitted_at is not None:
                raise Conflict("the session was submitted already", code="already_submitted")
            self.ensure_open(row)
            wf = self.workflow_of(row)
            steps = self._steps(s, row.id, wf)
            # With the facts: a graph's conditions read them to find the path still owed.
            results = {st.step: StepResult(StepState(st.state), tuple(st.reasons or ()),
                                           dict(st.facts or {})) for st in steps}
            waiting = incomplete_steps(wf, results)
            if waiting:
                # A pending step or one awaiting a retake would hold the session in
                # `processing` forever: nothing can complete it once captures are closed.
                raise Conflict(f"steps not complete: {', '.join(waiting)}",
                               code="steps_incomplete", extra={
                                   "incomplete_steps": waiting,
                                   "steps": [{"step": k, "state": results[k].state.value
                                              if k in results else "pending",
                                              "reasons": list(results[k].reasons)
                                              if k in results else []} for k in waiting]})
            if row.status == Status.NOT_STARTED.value:
                self.set_status(s, row, Status.IN_PROGRESS)
            self.set_status(s, row, Status.PROCESSING)
            row.submitted_at = self._clock.now()
            self._audit.record_in(s, AuditEvent(
                action="session.submitted", actor_type=actor.actor_type,
                actor_id=actor.client_id,
                tenant_id=actor.tenant_id, target_type="session", target_id=row.id,
                ip=actor.ip, request_id=actor.request_id))
            self.emit(s, row, "session.submitted")
            self.decide_if_complete(s, row, wf)
            return self._view(row, self._steps(s, row.id, wf))

    def decide_if_complete(self, s: Session, row: VerificationSession, wf: Workflow
                           ) -> Decision | None:
        """Decide once the session is submitted and every step has a final result."""
        if row.status != Status.PROCESSING.value:
            return None
        steps = self._steps(s, row.id, wf)
        results = {st.step: StepResult(StepState(st.state), tuple(st.reasons or ()),
                                       dict(st.facts or {})) for st in steps}
        if not ready(wf, results):
            return None
        decision = decide(wf, results)
        self.set_status(s, row, decision.status)
        row.decided_at = self._clock.now()
        set_decision(s, row, {"status": decision.status.value,
                              "reasons": list(decision.reasons), "checks": decision.checks})
        self._audit.record_in(s, AuditEvent(
            action="session.decided", tenant_id=row.tenant_id, target_type="session",
            target_id=row.id, details={"status": decision.status.value,
                                       "reasons": list(decision.reasons)}))
        self.emit(s, row, "session.decided")
        return decision

    # -- review ----------------------------------------------------------------------------
    def review_settings(self, tenant_id: str, s: Session | None = None) -> ReviewSettings:
        """A tenant's review rules (defaults: SLA 24 h, no four eyes)."""
        if s is None:
            with self._db.read() as rs:
                return self.review_settings(tenant_id, rs)
        found = s.get(ReviewSettings, tenant_id)
        if found is None:
            found = ReviewSettings(tenant_id=tenant_id, sla_hours=24, four_eyes=False,
                                   updated_at=self._clock.now())
        return found

    def set_review_settings(self, actor: Actor, *, sla_hours: int, four_eyes: bool) -> None:
        if not 1 <= sla_hours <= 24 * 30:
            raise ValidationFailed("the SLA is 1 hour to 30 days", code="invalid_sla")
        with self._db.session() as s:
            row = s.get(ReviewSettings, actor.tenant_id)
            if row is None:
                row = ReviewSettings(tenant_id=actor.tenant_id)
                s.add(row)
            row.sla_hours, row.four_eyes = sla_hours, four_eyes
            row.updated_at = self._clock.now()
            self._audit.record_in(s, AuditEvent(
                action="tenant.review_settings_changed", actor_type=actor.actor_type,
                actor_id=actor.client_id, tenant_id=actor.tenant_id, ip=actor.ip,
                request_id=actor.request_id, target_type="tenant",
                target_id=actor.tenant_id,
                details={"sla_hours": sla_hours, "four_eyes": four_eyes}))

    @staticmethod
    def version_of(row: VerificationSession) -> str:
        return review_version(row.updated_at, row.status)

    def review(self, actor: Actor, session_id: str, request: ReviewRequest, *,
               version: str | None = None) -> ReviewOutcome:
        """A reviewer's decision on a session `in_review`: approve, decline (reasons from
        the catalogue, a note), or `resubmit` steps (the session goes back to `in_progress`
        and its hosted link can be used again). With four eyes, a decline (or approving a
        duplicate document) waits for a second, different reviewer. `version` (from a form
        or `If-Match`) must still be the session's: a stale form changes nothing (409)."""
        with self._db.session() as s:
            row = self.load_for_update(s, actor.tenant_id, session_id)
            if row.status != Status.IN_REVIEW.value:
                raise Conflict(f"the session is {row.status}, not in review",
                               code="not_in_review")
            if version is not None and version != self.version_of(row):
                raise Conflict("the session changed since this form was loaded",
                               code="review_conflict")
            wf = self.workflow_of(row)
            req = validate(request, list(wf.steps))
            now = self._clock.now()
            # Compare-and-swap on the version read: two reviewers deciding at once, one wins.
            swapped = s.execute(
                update(VerificationSession)
                .where(VerificationSession.id == row.id,
                       VerificationSession.status == Status.IN_REVIEW.value,
                       VerificationSession.updated_at == row.updated_at)
                .values(updated_at=now).execution_options(synchronize_session=False))
            if swapped.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict("another reviewer decided this session",
                               code="review_conflict")
            row.updated_at = now
            auto_reasons = list((row.decision or {}).get("reasons", []))
            settings = self.review_settings(row.tenant_id, s)
            open_proposal = s.scalar(select(ReviewProposal).where(
                ReviewProposal.session_id == row.id, ReviewProposal.resolved_at.is_(None)))
            second: ReviewProposal | None = None
            if open_proposal is not None:
                same = (open_proposal.decision == req.decision)
                if (same and open_proposal.actor_type == actor.actor_type
                        and open_proposal.actor_id == actor.client_id):
                    raise Conflict("a second reviewer must confirm this decision",
                                   code="second_reviewer_required")
                open_proposal.resolved_at = now
                open_proposal.outcome = "confirmed" if same else "superseded"
                second = open_proposal if same else None
            if second is None and needs_second_reviewer(req.decision, auto_reasons,
                                                        settings.four_eyes):
                proposal = ReviewProposal(
                    id=new_id("rvp"), session_id=row.id, tenant_id=row.tenant_id,
                    decision=req.decision, reasons=list(req.reasons), note=req.note or None,
                    actor_type=actor.actor_type, actor_id=actor.client_id, created_at=now)
                s.add(proposal)
                self._audit.record_in(s, AuditEvent(
                    action="session.review_proposed", actor_type=actor.actor_type,
                    actor_id=actor.client_id, tenant_id=row.tenant_id,
                    target_type="session", target_id=row.id, ip=actor.ip,
                    request_id=actor.request_id,
                    details={"decision": req.decision, "reasons": list(req.reasons),
                             "note": req.note or None, "proposal": proposal.id}))
                return ReviewOutcome(row.id, row.status, req.decision, req.reasons, (),
                                     True, self.version_of(row))
            reasons = req.reasons
            if second is not None:
                reasons = tuple(dict.fromkeys([*second.reasons, *req.reasons]))
            review = {"decision": req.decision, "reasons": list(reasons),
                      "steps": list(req.steps), "reviewer_type": actor.actor_type,
                      "reviewer_id": actor.client_id, "at": now.isoformat(),
                      "first_reviewer_id": second.actor_id if second else None}
            url = None
            if req.decision == "resubmit":
                url = self._reopen(s, row, req.steps, now)
            else:
                final = Status.APPROVED if req.decision == "approved" else Status.DECLINED
                self.set_status(s, row, final)
                checks = dict((row.decision or {}).get("checks", {}))
                checks["is_verified"] = final == Status.APPROVED
                set_decision(s, row, {"status": final.value, "reasons": list(reasons),
                                      "checks": checks, "automatic_reasons": auto_reasons,
                                      "review": review})
                row.decided_at = now
            self._audit.record_in(s, AuditEvent(
                action="session.reviewed", actor_type=actor.actor_type,
                actor_id=actor.client_id, tenant_id=row.tenant_id, target_type="session",
                target_id=row.id, ip=actor.ip, request_id=actor.request_id,
                details={"decision": req.decision, "reasons": list(reasons),
                         "note": req.note or None, "steps": list(req.steps) or None,
                         "first_reviewer": (f"{second.actor_type}:{second.actor_id}"
                                            if second else None)}))
            row._last_review = review  # type: ignore[attr-defined]
            self.emit(s, row, "session.reviewed")
            if req.decision != "resubmit":
                self.emit(s, row, "session.decided")
            return ReviewOutcome(row.id, row.status, req.decision, reasons, req.steps,
                                 False, self.version_of(row), url)

    def _reopen(self, s: Session, row: VerificationSession, steps: tuple[str, ...],
                now: datetime) -> str:
        """Back to `in_progress` for the steps to redo: their results cleared, the hosted
        link usable again for as long as the session first had."""
        for st in self._steps(s, row.id):
            if st.step in steps:
                st.state = StepState.PENDING.value
                st.reasons, st.facts, st.attempts, st.updated_at = [], {}, 0, now
        if "document" in steps:  # a new document is read afresh (not matched to the old)
            s.execute(delete(SessionDocument).where(SessionDocument.session_id == row.id))
        row.status = transition(Status(row.status), Status.IN_PROGRESS).value
        lifetime = max(row.expires_at - row.created_at, timedelta(hours=1))
        row.expires_at = now + lifetime
        row.submitted_at = row.decided_at = row.link_used_at = None
        set_decision(s, row, None)
        return self.url_for(row.id)

    def expire_due(self) -> int:
        """Close sessions that will never be submitted: past their expiry (`expired` when
        nothing was captured, `abandoned` when the person began), or begun and then left
        alone longer than their workflow's inactivity limit (`abandoned`)."""
        now = self._clock.now()
        shortest = min((wf.inactivity_minutes for wf in builtin_workflows().values()),
                       default=60)
        if self._workflows is not None:
            shortest = 1  # a tenant workflow may allow as little; _inactive tells exactly
        closed = 0
        with self._db.session() as s:
            rows = list(s.scalars(select(VerificationSession).where(
                VerificationSession.status.in_([Status.NOT_STARTED.value,
                                                Status.IN_PROGRESS.value]),
                or_(VerificationSession.expires_at <= now,
                    and_(VerificationSession.status == Status.IN_PROGRESS.value,
                         VerificationSession.updated_at
                         <= now - timedelta(minutes=shortest))))))
            for row in rows:
                if row.expires_at <= now:
                    target, why = lapsed(Status(row.status)), "expired"
                elif self._inactive(s, row, now):
                    target, why = Status.ABANDONED, "inactive"
                else:
                    continue
                self.set_status(s, row, target)
                self._audit.record_in(s, AuditEvent(
                    action=f"session.{target.value}", tenant_id=row.tenant_id,
                    target_type="session", target_id=row.id, details={"cause": why}))
                closed += 1
        return closed

    def _inactive(self, s: Session, row: VerificationSession, now: datetime) -> bool:
        """Nothing happened for longer than the workflow allows, and no job owes a result
        (a document still being read keeps the person waiting, not inactive)."""
        wf = self._workflow_or_none(row)
        limit = timedelta(minutes=wf.inactivity_minutes if wf else 60)
        being_read = s.scalar(select(Capture.id).where(
            Capture.session_id == row.id, Capture.processed_at.is_(None),
            Capture.deleted_at.is_(None)).limit(1))
        if being_read is not None:
            return False
        steps = self._steps(s, row.id)
        last = max([row.updated_at, *(st.updated_at for st in steps)])
        return last <= now - limit

    def settle_overdue(self, job_timeout: timedelta) -> tuple[str, ...]:
        """Decide submitted sessions whose jobs never answered within `job_timeout`: their
        unfinished steps fail with `processing_timeout` (which sends them to review).
        Returns the ids of the sessions decided."""
        now = self._clock.now()
        decided = []
        with self._db.session() as s:
            rows = list(s.scalars(select(VerificationSession).where(
                VerificationSession.status == Status.PROCESSING.value,
                VerificationSession.submitted_at <= now - job_timeout)))
            for row in rows:
                wf = self._workflow_or_none(row)
                if wf is None:  # pragma: no cover - every recorded version is kept
                    continue
                for st in self._steps(s, row.id, wf):
                    if st.state not in (StepState.PASSED.value, StepState.FAILED.value):
                        st.state = StepState.FAILED.value
                        st.reasons = ["processing_timeout"]
                        st.updated_at = now
                        self._audit.record_in(s, AuditEvent(
                            action="session.step_timed_out", tenant_id=row.tenant_id,
                            target_type="session", target_id=row.id,
                            details={"step": st.step}))
                if self.decide_if_complete(s, row, wf) is not None:
                    decided.append(row.id)
        return tuple(decided)

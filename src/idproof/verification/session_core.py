"""The verification session aggregate: its events, views, status changes, steps, decision.

`SessionService` (verification/service.py) is this core plus its use cases (create, submit,
review, expiry). Only this service writes sessions and their steps; other packages call
`record_step`, `touch` and `claim_link` inside their own transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, object_session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, Gone, NotFound
from idproof.core.events import SESSION_EVENTS, EventBus, SessionEvent, StepRecorded
from idproof.db.engine import Database
from idproof.db.tenancy import scoped
from idproof.verification.decision import Decision, StepResult, StepState, decide, ready
from idproof.verification.lifecycle import Status, accepts_captures, transition
from idproof.verification.links import LinkSigner
from idproof.verification.models import SessionStep, VerificationSession
from idproof.verification.reasons import set_decision
from idproof.verification.schemas import DecisionView, SessionView, StepView
from idproof.workflows.catalog import Workflow, get_workflow
from idproof.workflows.service import WorkflowService

# The values of `signals.*` for a session's workflow rules, in the decision's transaction.
SignalValues = Callable[[Session, VerificationSession], Mapping[str, Any]]


class SessionCore:
    """Owns verification sessions: changes their status and steps and publishes their
    lifecycle events (`core.events`) inside the transaction of each change."""

    def __init__(self, db: Database, audit: AuditService, links: LinkSigner, public_url: str,
                 events: EventBus, clock: Clock | None = None,
                 workflows: WorkflowService | None = None,
                 signals: SignalValues | None = None) -> None:
        self._db = db
        self._audit = audit
        self._links = links
        self._public_url = public_url
        self._events = events
        self._clock = clock or SystemClock()
        # Tenant workflows: sessions may run (and stay pinned to) their versions.
        self._workflows = workflows
        # The fraud signals' values for workflow rules (`signals.*`), computed in the
        # decision's transaction; bootstrap passes the signals feature's.
        self._signals = signals


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


    def decide_if_complete(self, s: Session, row: VerificationSession, wf: Workflow
                           ) -> Decision | None:
        """Decide once the session is submitted and every step has a final result."""
        if row.status != Status.PROCESSING.value:
            return None
        steps = self._steps(s, row.id, wf)
        results = {st.step: StepResult(StepState(st.state), tuple(st.reasons or ()),
                                       dict(st.facts or {})) for st in steps}
        values = self._signals(s, row) if self._signals is not None else None
        if not ready(wf, results, values):
            return None
        decision = decide(wf, results, values)
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

    # -- steps: this service alone writes them -------------------------------------------
    @staticmethod
    def find_step(s: Session, session_id: str, name: str) -> SessionStep | None:
        """The session's step `name`, for update in the caller's transaction (None when
        the workflow has no such step); change it only through `record_step`."""
        return s.get(SessionStep, (session_id, name))

    def record_step(self, s: Session, row: VerificationSession, step: SessionStep,
                    state: StepState, *, reasons: Sequence[str] = (),
                    facts: Mapping[str, Any] | None = None, attempts: int | None = None,
                    activity: bool = False) -> None:
        """A step's new result. `facts` None keeps the facts; `attempts` None keeps the
        count. `activity`: the person acted (see `touch`)."""
        now = self._clock.now()
        step.state = state.value
        step.reasons = list(reasons)
        if facts is not None:
            step.facts = dict(facts)
        if attempts is not None:
            step.attempts = attempts
        step.updated_at = now
        if activity:
            self.touch(s, row, now)
        self._events.publish(s, StepRecorded(tenant_id=row.tenant_id, session_id=row.id,
                                             step=step.step, state=state.value))

    def touch(self, s: Session, row: VerificationSession, now: datetime | None = None
              ) -> None:
        """The person acted: the inactivity limit counts from now, and a session not
        started yet is in progress (`session.started`)."""
        row.updated_at = now or self._clock.now()
        if row.status == Status.NOT_STARTED.value:
            self.set_status(s, row, Status.IN_PROGRESS)

    @staticmethod
    def add_decision_reasons(s: Session, row: VerificationSession, source: str,
                             reasons: Sequence[str]) -> None:
        """Another check's reason codes join a decision (the fraud signals, before
        `session.decided` goes out); `source` also keeps them apart."""
        decision: dict[str, Any] = dict(row.decision or {})
        known = list(decision.get("reasons", []))
        decision["reasons"] = known + [r for r in reasons if r not in known]
        decision[source] = list(reasons)
        set_decision(s, row, decision)

    def claim_link(self, s: Session, row: VerificationSession) -> bool:
        """Use up the session's single-use hosted link; False when it was used already
        (an atomic compare-and-set: two browsers opening it at once, one wins)."""
        claimed = cast(CursorResult[Any], s.execute(
            update(VerificationSession)
            .where(VerificationSession.id == row.id,
                   VerificationSession.link_used_at.is_(None))
            .values(link_used_at=self._clock.now())
            .execution_options(synchronize_session=False))).rowcount
        return claimed == 1

"""The `screening` workflow step: the document holder against the imported lists."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict
from idproof.core.events import StepRecorded
from idproof.crypto.fields import bind_protection
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.screening.hits import open_step_cases
from idproof.screening.service import ScreeningService
from idproof.verification.decision import StepResult, StepState
from idproof.verification.lifecycle import Status
from idproof.verification.models import SessionDocument, SessionStep, VerificationSession
from idproof.verification.service import Actor, SessionService
from idproof.workflows.flow import Outcome as FlowOutcome
from idproof.workflows.flow import compiled, pending_steps

OPEN = frozenset({Status.NOT_STARTED.value, Status.IN_PROGRESS.value, Status.PROCESSING.value})
# The document step ended without a readable document: there is no name to screen.
NO_DOCUMENT = "screening_document_unreadable"
# A step result after which the screening step may be due.
FINISHED = frozenset({StepState.PASSED.value, StepState.FAILED.value})


class ScreeningStep:
    """Screens the name, birth date and nationality read from the session's document with
    the screening service (the tenant's threshold). The step passes when clear and fails
    with `screening_potential_match` or `screening_confirmed_match`; `screening.hit` tells
    the rules. The name never leaves the server: the audit keeps the entries hit.

    It runs by itself when the session reaches it with the document read (`step_completed`,
    in the transaction of the step before it; `run_due` from the hosted flow) and through
    `POST /v1/sessions/{id}/steps/screening`."""

    def __init__(self, db: Database, audit: AuditService, protection: DataProtection,
                 sessions: SessionService, screening: ScreeningService,
                 clock: Clock | None = None) -> None:
        self._db, self._audit, self._protection = db, audit, protection
        self._sessions, self._screening = sessions, screening
        self._clock = clock or SystemClock()

    def run(self, actor: Actor, session_id: str) -> dict[str, Any]:
        with self._db.session() as s:
            bind_protection(s, self._protection)
            row = self._sessions.load_for_update(s, actor.tenant_id, session_id)
            self._sessions.ensure_open(row)
            st = self._sessions.find_step(s, row.id, "screening")
            if st is None:
                raise Conflict("the session's workflow has no screening step",
                               code="step_not_in_workflow")
            if st.state in (StepState.PASSED.value, StepState.FAILED.value):
                raise Conflict("the screening step is finished", code="step_finished")
            doc = s.scalar(select(SessionDocument).where(SessionDocument.session_id == row.id))
            if doc is None:
                raise Conflict("screening needs the document read first",
                               code="document_missing")
            reasons = self._screen(s, row, st, doc, actor)
            self._sessions.decide_if_complete(s, row, self._sessions.workflow_of(row))
        state = StepState.FAILED if reasons else StepState.PASSED
        return {"step": "screening", "state": state.value, "reasons": list(reasons)}

    # -- by itself -----------------------------------------------------------------------
    def step_recorded(self, s: Session, event: StepRecorded) -> None:
        """Another step finished (the document read, a code confirmed): screen now when the
        session's path reaches the screening step. The caller decides afterwards."""
        if event.step != "screening" and event.state in FINISHED:
            self.run_due(s, event.tenant_id, event.session_id)

    def run_due(self, s: Session, tenant_id: str, session_id: str) -> bool:
        """Screen in the transaction `s` if the step is on the path and pending with the
        document read; True when it ran. Without a readable document it fails
        (`screening_document_unreadable`): nobody could ever make it pass."""
        row = s.get(VerificationSession, session_id)
        if row is None or row.tenant_id != tenant_id or row.status not in OPEN:
            return False
        st = self._sessions.find_step(s, row.id, "screening")
        if st is None or st.state != StepState.PENDING.value:
            return False
        wf = self._sessions.workflow_of(row)
        if wf.flow is None:
            return False
        rows = s.scalars(select(SessionStep).where(SessionStep.session_id == row.id))
        outcomes = {r.step: FlowOutcome(r.state, tuple(r.reasons or ()), dict(r.facts or {}))
                    for r in rows}
        document = outcomes.get("document")
        if document is None or not document.complete \
                or "screening" not in pending_steps(compiled(wf.flow), outcomes):
            return False
        bind_protection(s, self._protection)
        doc = s.scalar(select(SessionDocument).where(SessionDocument.session_id == row.id))
        actor = Actor(tenant_id=row.tenant_id, client_id=None, ip=None, request_id=None,
                      actor_type="system")
        if doc is None:
            self._set(s, row, st, StepResult(StepState.FAILED, (NO_DOCUMENT,),
                                             {"hit": False}), actor, {"outcome": NO_DOCUMENT})
            return True
        self._screen(s, row, st, doc, actor)
        return True

    # -- shared --------------------------------------------------------------------------
    def _screen(self, s: Session, row: VerificationSession, st: SessionStep,
                doc: SessionDocument, actor: Actor) -> tuple[str, ...]:
        result = self._screening.screen_subject(
            row.tenant_id, f"{doc.given_names} {doc.surname}".strip(),
            _date(doc.birth_date), doc.nationality, doc.sex)
        hit = result.outcome != "screening_clear"
        reasons = (result.outcome,) if hit else ()
        self._set(s, row, st, StepResult(StepState.FAILED if hit else StepState.PASSED,
                                         reasons, {"hit": hit}), actor,
                  {"outcome": result.outcome,
                   "entries": [f"{h.source}:{h.entry_id}" for h in result.hits[:10]]})
        if result.hits:  # each one a case a reviewer marks a true or a false positive
            open_step_cases(s, row.tenant_id, row.id, result.hits[:10],
                            self._screening.active_snapshots(), self._audit, self._clock.now())
        return reasons

    def _set(self, s: Session, row: VerificationSession, st: SessionStep, result: StepResult,
             actor: Actor, details: dict[str, Any]) -> None:
        self._sessions.record_step(s, row, st, result.state, reasons=result.reasons,
                                   facts=result.facts, attempts=st.attempts + 1,
                                   activity=True)
        self._audit.record_in(s, AuditEvent(
            action="session.screening_processed", actor_type=actor.actor_type,
            actor_id=actor.client_id, tenant_id=row.tenant_id, target_type="session",
            target_id=row.id, ip=actor.ip, request_id=actor.request_id,
            details={"state": result.state.value, **details}))


def _date(value: object) -> date | None:
    """The sealed birth date comes back as ISO text (or a date, or nothing)."""
    if isinstance(value, date) or value is None:
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None

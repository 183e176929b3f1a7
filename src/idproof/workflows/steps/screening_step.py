"""The `screening` workflow step: the document holder against the imported lists."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict
from idproof.crypto.fields import bind_protection
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.screening.service import ScreeningService
from idproof.verification.decision import StepState
from idproof.verification.models import SessionDocument
from idproof.verification.service import Actor, SessionService


class ScreeningStep:
    """Screens the name, birth date and nationality read from the session's document with
    the screening service (the tenant's threshold). The step passes when clear and fails
    with `screening_potential_match` or `screening_confirmed_match`; `screening.hit` tells
    the rules. The name never leaves the server: the audit keeps the entries hit."""

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
            result = self._screening.screen_subject(
                row.tenant_id, f"{doc.given_names} {doc.surname}".strip(),
                _date(doc.birth_date), doc.nationality, doc.sex)
            hit = result.outcome != "screening_clear"
            state = StepState.FAILED if hit else StepState.PASSED
            self._sessions.record_step(s, row, st, state,
                                       reasons=(result.outcome,) if hit else (),
                                       facts={"hit": hit}, attempts=st.attempts + 1,
                                       activity=True)
            self._audit.record_in(s, AuditEvent(
                action="session.screening_processed", actor_type=actor.actor_type,
                actor_id=actor.client_id, tenant_id=row.tenant_id, target_type="session",
                target_id=row.id, ip=actor.ip, request_id=actor.request_id,
                details={"state": state.value, "outcome": result.outcome,
                         "entries": [f"{h.source}:{h.entry_id}" for h in result.hits[:10]]}))
            self._sessions.decide_if_complete(s, row, self._sessions.workflow_of(row))
        return {"step": "screening", "state": state.value,
                "reasons": [result.outcome] if hit else []}


def _date(value: object) -> date | None:
    """The sealed birth date comes back as ISO text (or a date, or nothing)."""
    if isinstance(value, date) or value is None:
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None

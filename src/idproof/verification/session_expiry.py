"""Closing sessions nobody will finish: expiry, inactivity, and jobs that never answered."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.verification.decision import StepState
from idproof.verification.lifecycle import Status, lapsed
from idproof.verification.models import Capture, VerificationSession
from idproof.verification.session_core import SessionCore
from idproof.workflows.catalog import builtin_workflows


class SessionExpiry(SessionCore):
    """The sweeps of `SessionService`."""

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
                        self.record_step(s, row, st, StepState.FAILED,
                                         reasons=("processing_timeout",))
                        self._audit.record_in(s, AuditEvent(
                            action="session.step_timed_out", tenant_id=row.tenant_id,
                            target_type="session", target_id=row.id,
                            details={"step": st.step}))
                if self.decide_if_complete(s, row, wf) is not None:
                    decided.append(row.id)
        return tuple(decided)

"""Session use cases: create (idempotent), read, list, submit; review and expiry mixed in."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError

from idproof.audit.events import AuditEvent
from idproof.core.cursors import decode_cursor, encode_cursor
from idproof.core.errors import Conflict, ValidationFailed
from idproof.core.ids import new_id
from idproof.db.tenancy import get_owned, scoped
from idproof.verification.actor import Actor
from idproof.verification.decision import StepResult, StepState, incomplete_steps
from idproof.verification.lifecycle import Status
from idproof.verification.models import SessionStep, VerificationSession
from idproof.verification.schemas import CreateSession, DecisionView, SessionPage, SessionView
from idproof.verification.session_expiry import SessionExpiry
from idproof.verification.session_review import ReviewOutcome, SessionReview
from idproof.workflows.catalog import get_workflow

__all__ = ["Actor", "ReviewOutcome", "SessionService"]


def _fingerprint(body: CreateSession) -> str:
    # `version` only when given: fingerprints of requests from before it existed still match
    data = body.model_dump(mode="json", exclude={"version"} if body.version is None else None)
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


class SessionService(SessionReview, SessionExpiry):
    """Owns verification sessions (see `SessionCore`): the API's use cases."""

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
            ts, sid = decode_cursor(cursor)
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
        nxt = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
        return SessionPage(data=views, next_cursor=nxt)


    def decision(self, tenant_id: str, session_id: str) -> DecisionView:
        with self._db.read() as s:
            row = get_owned(s, VerificationSession, session_id, tenant_id,
                            code="session_not_found")
        return self._decision_view(row)


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

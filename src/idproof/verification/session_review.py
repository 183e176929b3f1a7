"""Manual review of a session `in_review`: approve, decline or resubmit, with four eyes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.core.errors import Conflict, ValidationFailed
from idproof.core.ids import new_id
from idproof.verification.actor import Actor
from idproof.verification.decision import StepState
from idproof.verification.document.accepted import EVERYTHING, AcceptedDocuments
from idproof.verification.lifecycle import Status, transition
from idproof.verification.models import (
    AcceptedDocumentsRow,
    ReviewProposal,
    ReviewSettings,
    SessionDocument,
    VerificationSession,
)
from idproof.verification.reasons import set_decision
from idproof.verification.review import (
    ReviewRequest,
    needs_second_reviewer,
    review_version,
    validate,
)
from idproof.verification.session_core import SessionCore


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


class SessionReview(SessionCore):
    """The review use cases of `SessionService`."""

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


    def set_review_settings(self, actor: Actor, *, sla_hours: int, four_eyes: bool,
                            s: Session | None = None) -> None:
        """Set a tenant's review rules, in `s` when given (the console saves every tenant
        setting in one transaction), else in a transaction of its own."""
        if not 1 <= sla_hours <= 24 * 30:
            raise ValidationFailed("the SLA is 1 hour to 30 days", code="invalid_sla")
        if s is None:
            with self._db.session() as ws:
                return self.set_review_settings(actor, sla_hours=sla_hours,
                                                four_eyes=four_eyes, s=ws)
        row = s.get(ReviewSettings, actor.tenant_id)
        if row is None:
            row = ReviewSettings(tenant_id=actor.tenant_id)
            s.add(row)
        row.sla_hours, row.four_eyes = sla_hours, four_eyes
        row.updated_at = self._clock.now()
        self._audit.record_in(s, AuditEvent(
            action="tenant.review_settings_changed", actor_type=actor.actor_type,
            actor_id=actor.client_id, tenant_id=actor.tenant_id, ip=actor.ip,
            request_id=actor.request_id, target_type="tenant", target_id=actor.tenant_id,
            details={"sla_hours": sla_hours, "four_eyes": four_eyes}))
        return None

    def accepted_documents(self, tenant_id: str, s: Session | None = None
                           ) -> AcceptedDocuments:
        """The issuing countries and document types a tenant accepts (default: every one)."""
        if s is None:
            with self._db.read() as rs:
                return self.accepted_documents(tenant_id, rs)
        row = s.get(AcceptedDocumentsRow, tenant_id)
        if row is None:
            return EVERYTHING
        return AcceptedDocuments(tuple(row.countries or ()), tuple(row.document_types or ()))

    def set_accepted_documents(self, s: Session, actor: Actor, new: AcceptedDocuments
                               ) -> None:
        """Store a tenant's accepted documents (validated by `document.accepted.accepted`)
        in the caller's transaction, audited with the values before and after (codes only)."""
        before = self.accepted_documents(actor.tenant_id, s)
        row = s.get(AcceptedDocumentsRow, actor.tenant_id)
        if row is None:
            row = AcceptedDocumentsRow(tenant_id=actor.tenant_id)
            s.add(row)
        row.countries, row.document_types = list(new.countries), list(new.types)
        row.updated_at = self._clock.now()
        self._audit.record_in(s, AuditEvent(
            action="tenant.accepted_documents_changed", actor_type=actor.actor_type,
            actor_id=actor.client_id, tenant_id=actor.tenant_id, ip=actor.ip,
            request_id=actor.request_id, target_type="tenant", target_id=actor.tenant_id,
            details={"countries": list(new.countries), "document_types": list(new.types),
                     "countries_before": list(before.countries),
                     "document_types_before": list(before.types)}))

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
            req = validate(request, list(self.workflow_of(row).steps))
            now = self._clock.now()
            self._take(s, row, now)
            auto_reasons = list((row.decision or {}).get("reasons", []))
            settings = self.review_settings(row.tenant_id, s)
            second = self._second_of(s, row, actor, req, now)
            if second is None and needs_second_reviewer(req.decision, auto_reasons,
                                                        settings.four_eyes):
                return self._propose(s, row, actor, req, now)
            return self._conclude(s, row, actor, req, second, auto_reasons, now)

    @staticmethod
    def _take(s: Session, row: VerificationSession, now: datetime) -> None:
        """Compare-and-swap on the version read: two reviewers deciding at once, one wins."""
        swapped = s.execute(
            update(VerificationSession)
            .where(VerificationSession.id == row.id,
                   VerificationSession.status == Status.IN_REVIEW.value,
                   VerificationSession.updated_at == row.updated_at)
            .values(updated_at=now).execution_options(synchronize_session=False))
        if swapped.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("another reviewer decided this session", code="review_conflict")
        row.updated_at = now

    @staticmethod
    def _second_of(s: Session, row: VerificationSession, actor: Actor, req: ReviewRequest,
                   now: datetime) -> ReviewProposal | None:
        """The open four-eyes proposal this review confirms (None when there is none, or
        when this review supersedes it); the proposer cannot confirm their own."""
        open_proposal = s.scalar(select(ReviewProposal).where(
            ReviewProposal.session_id == row.id, ReviewProposal.resolved_at.is_(None)))
        if open_proposal is None:
            return None
        same = open_proposal.decision == req.decision
        if (same and open_proposal.actor_type == actor.actor_type
                and open_proposal.actor_id == actor.client_id):
            raise Conflict("a second reviewer must confirm this decision",
                           code="second_reviewer_required")
        open_proposal.resolved_at = now
        open_proposal.outcome = "confirmed" if same else "superseded"
        return open_proposal if same else None

    def _propose(self, s: Session, row: VerificationSession, actor: Actor,
                 req: ReviewRequest, now: datetime) -> ReviewOutcome:
        """Four eyes: the first reviewer's decision waits for a second reviewer."""
        proposal = ReviewProposal(
            id=new_id("rvp"), session_id=row.id, tenant_id=row.tenant_id,
            decision=req.decision, reasons=list(req.reasons), note=req.note or None,
            actor_type=actor.actor_type, actor_id=actor.client_id, created_at=now)
        s.add(proposal)
        self._audit.record_in(s, AuditEvent(
            action="session.review_proposed", actor_type=actor.actor_type,
            actor_id=actor.client_id, tenant_id=row.tenant_id, target_type="session",
            target_id=row.id, ip=actor.ip, request_id=actor.request_id,
            details={"decision": req.decision, "reasons": list(req.reasons),
                     "note": req.note or None, "proposal": proposal.id}))
        return ReviewOutcome(row.id, row.status, req.decision, req.reasons, (), True,
                             self.version_of(row))

    def _conclude(self, s: Session, row: VerificationSession, actor: Actor,
                  req: ReviewRequest, second: ReviewProposal | None,
                  auto_reasons: list[str], now: datetime) -> ReviewOutcome:
        """Apply the review: a final status, or the steps reopened for a resubmit."""
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
            action="session.reviewed", actor_type=actor.actor_type, actor_id=actor.client_id,
            tenant_id=row.tenant_id, target_type="session", target_id=row.id, ip=actor.ip,
            request_id=actor.request_id,
            details={"decision": req.decision, "reasons": list(reasons),
                     "note": req.note or None, "steps": list(req.steps) or None,
                     "first_reviewer": (f"{second.actor_type}:{second.actor_id}"
                                        if second else None)}))
        row._last_review = review  # type: ignore[attr-defined]
        self.emit(s, row, "session.reviewed")
        if req.decision != "resubmit":
            self.emit(s, row, "session.decided")
        return ReviewOutcome(row.id, row.status, req.decision, reasons, req.steps, False,
                             self.version_of(row), url)

    def _reopen(self, s: Session, row: VerificationSession, steps: tuple[str, ...],
                now: datetime) -> str:
        """Back to `in_progress` for the steps to redo: their results cleared, the hosted
        link usable again for as long as the session first had."""
        for st in self._steps(s, row.id):
            if st.step in steps:
                self.record_step(s, row, st, StepState.PENDING, facts={}, attempts=0)
        if "document" in steps:  # a new document is read afresh (not matched to the old)
            s.execute(delete(SessionDocument).where(SessionDocument.session_id == row.id))
        row.status = transition(Status(row.status), Status.IN_PROGRESS).value
        lifetime = max(row.expires_at - row.created_at, timedelta(hours=1))
        row.expires_at = now + lifetime
        row.submitted_at = row.decided_at = row.link_used_at = None
        set_decision(s, row, None)
        return self.url_for(row.id)

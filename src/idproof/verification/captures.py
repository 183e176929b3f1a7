"""Captures and processing: upload, the document job, PII reads, erasure and the sweep.

Raw images are sealed under the person's data key the moment they arrive, processed by a
worker, and deleted when the session is decided (the default retention). Extracted fields
are sealed too; the document number goes to the vault and to a blind index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import NotFound, ValidationFailed
from idproof.core.events import DocumentFrontStored, EventBus, SessionDecided
from idproof.core.ids import new_id
from idproof.core.tasks import TaskQueue
from idproof.crypto.errors import SubjectKeyShredded
from idproof.crypto.fields import bind_protection
from idproof.crypto.protection import DataProtection
from idproof.db.after_commit import after_commit
from idproof.db.engine import Database
from idproof.db.tenancy import get_owned
from idproof.security.uploads import sanitize_image
from idproof.vault.service import VaultService
from idproof.verification.blobs import BlobNotFound, BlobStore
from idproof.verification.decision import StepResult, StepState
from idproof.verification.document_checks import ExtractedDocument, check_document
from idproof.verification.document_reader import DocumentReader, ReadOutcome
from idproof.verification.lifecycle import DECIDED, FINAL, Status
from idproof.verification.models import (
    Capture,
    SessionDocument,
    SessionReason,
    SessionStep,
    VerificationSession,
)
from idproof.verification.schemas import SessionView
from idproof.verification.service import Actor, SessionService

log = structlog.get_logger("idproof.verification")
# The document job: read the document of one capture (args: session id, capture id).
PROCESS_CAPTURE = "process_capture"
# A job arriving for a settled session (decided, in review, or closed) changes nothing.
SETTLED = FINAL | DECIDED
SIDES = ("front", "back")


@dataclass(frozen=True, slots=True)
class DocumentData:
    """The personal data read from a session's document (only for identity.read_pii)."""

    fields: dict[str, Any]


class CaptureService:
    """Document uploads and their processing job, image retention and erasure.

    `retention(tenant_id)` is how many seconds a tenant keeps raw images after the decision;
    `tasks` runs the document job (`process_capture`) after the upload commits."""

    def __init__(self, db: Database, audit: AuditService, protection: DataProtection,
                 vault: VaultService, blobs: BlobStore, sessions: SessionService,
                 reader: DocumentReader, *, events: EventBus, tasks: TaskQueue,
                 retention: Callable[[str], int], clock: Clock | None = None,
                 stuck_after: timedelta = timedelta(minutes=2),
                 job_timeout: timedelta = timedelta(minutes=10)) -> None:
        self._db = db
        self._audit = audit
        self._protection = protection
        self._vault = vault
        self._blobs = blobs
        self._sessions = sessions
        self._reader = reader
        self._events = events
        self._tasks = tasks
        self._retention = retention
        self._clock = clock or SystemClock()
        self._stuck_after = stuck_after
        self._job_timeout = job_timeout

    # -- upload ----------------------------------------------------------------------------
    def upload_document(self, actor: Actor, session_id: str, side: str,
                        data: bytes) -> SessionView:
        if side not in SIDES:
            raise ValidationFailed("side must be front or back", code="invalid_side")
        # Check the session first: nothing is decoded for a closed or foreign session.
        with self._db.read() as s:
            row = get_owned(s, VerificationSession, session_id, actor.tenant_id,
                            code="session_not_found")
            self._sessions.ensure_open(row)
        clean = sanitize_image(data)
        capture_id = new_id("cap")
        with self._db.session() as s:
            row = self._sessions.load_for_update(s, actor.tenant_id, session_id)
            self._sessions.ensure_open(row)
            key_id = self._protection.subject_key(row.tenant_id, row.subject_key_id)
            sealed = self._protection.encrypt(row.tenant_id, "session_captures", "image",
                                              capture_id, key_id, clean.data)
            blob_key = f"{row.tenant_id}/{capture_id}"
            self._blobs.put(blob_key, sealed)
            now = self._clock.now()
            # Images never outlive the session: at the latest they go at its expiry; at
            # decision they go at once (the default retention).
            s.add(Capture(id=capture_id, session_id=row.id, tenant_id=row.tenant_id,
                          kind=f"document_{side}", blob_key=blob_key, created_at=now,
                          delete_after=row.expires_at))
            step = s.get(SessionStep, (row.id, "document"))
            if step is None:
                raise ValidationFailed("this workflow has no document step",
                                       code="step_not_in_workflow")
            step.state = StepState.PROCESSING.value
            # A front and its back are one attempt: attempts count the photos of the side
            # tried most often (the new capture included).
            same_side = s.scalar(select(func.count()).select_from(Capture).where(
                Capture.session_id == row.id, Capture.kind == f"document_{side}")) or 0
            step.attempts = max(step.attempts, same_side)
            step.updated_at = now
            row.updated_at = now  # activity: the inactivity limit counts from here
            if row.status == Status.NOT_STARTED.value:
                self._sessions.set_status(s, row, Status.IN_PROGRESS)
            if side == "front":
                self._events.publish(s, DocumentFrontStored(tenant_id=row.tenant_id,
                                                            session_id=row.id))
            self._audit.record_in(s, AuditEvent(
                action="session.document_uploaded", actor_type=actor.actor_type,
                actor_id=actor.client_id, tenant_id=row.tenant_id, target_type="session",
                target_id=row.id, ip=actor.ip, request_id=actor.request_id,
                details={"side": side}))
            after_commit(s, lambda: self._tasks.enqueue(PROCESS_CAPTURE, session_id, capture_id))
        return self._sessions.get(actor.tenant_id, session_id)

    # -- the job -----------------------------------------------------------------------------
    def process(self, session_id: str, capture_id: str) -> None:
        try:
            self._process(session_id, capture_id)
        except (SubjectKeyShredded, BlobNotFound, NotFound) as exc:
            # The subject was erased while the job ran (key shredded, image or session
            # gone): nothing is left to read or to write; stop without a retry.
            log.info("capture_job_subject_erased", error_type=type(exc).__name__)

    def _process(self, session_id: str, capture_id: str) -> None:
        with self._db.read() as s:
            cap = s.get(Capture, capture_id)
            row = s.get(VerificationSession, session_id)
            if (cap is None or row is None or cap.session_id != session_id
                    or cap.deleted_at is not None or cap.processed_at is not None):
                return
            if Status(row.status) in SETTLED:
                return
            tenant_id, subject = row.tenant_id, row.subject_key_id
            workflow = self._sessions.workflow_of(row)
        key_id = self._protection.subject_key(tenant_id, subject)
        image = self._protection.decrypt(tenant_id, "session_captures", "image", capture_id,
                                         key_id, self._blobs.get(cap.blob_key))
        try:
            outcome = self._reader.read(image)
        except Exception as exc:  # an engine crash is a result, not a stuck session
            log.warning("document_read_failed", error_type=type(exc).__name__)
            outcome = ReadOutcome(None, "processing_error")
        del image
        token = index = None
        if outcome.document is not None:
            doc = outcome.document
            token = self._vault.tokenize(tenant_id, "document_number", doc.document_number,
                                         key_id)
            index = self._protection.blind_index(
                tenant_id, "document", f"{doc.issuing_country}:{doc.document_number}")
        decided_blobs: list[str] = []
        with self._db.session() as s:
            row = self._sessions.load_for_update(s, tenant_id, session_id)
            cap = s.get(Capture, capture_id)
            if cap is None or cap.processed_at is not None or Status(row.status) in SETTLED:
                return
            cap.processed_at = self._clock.now()
            step = s.get(SessionStep, (session_id, "document"))
            assert step is not None
            existing = s.scalar(select(SessionDocument)
                                .where(SessionDocument.session_id == session_id))
            if outcome.document is not None and token is not None and index is not None:
                result = self._document_result(s, row, workflow, outcome.document, token,
                                               index, existing)
            elif existing is not None:
                # The other side was read already: an unreadable side changes nothing, and
                # the step gets back the result that read gave (its reasons and facts are
                # still on the step; the upload only marked it processing).
                result = StepResult(StepState.FAILED if step.reasons else StepState.PASSED,
                                    tuple(step.reasons or ()), dict(step.facts or {}))
            elif s.scalar(select(Capture.id).where(
                    Capture.session_id == session_id, Capture.id != capture_id,
                    Capture.processed_at.is_(None), Capture.deleted_at.is_(None)).limit(1)):
                # Another side is still being read (the back of a licence carries the
                # barcode; its front carries nothing machine-readable): let it answer.
                return
            else:
                reason = outcome.reason or "document_unreadable"
                # Once submitted, nothing can be retaken: the step fails with its reason.
                retry = (reason == "document_unreadable" and row.submitted_at is None
                         and step.attempts < workflow.max_attempts)
                result = StepResult(StepState.RETRY if retry else StepState.FAILED, (reason,),
                                    {"document_valid": False})
            step.state = result.state.value
            step.reasons = list(result.reasons)
            step.facts = dict(result.facts)
            step.updated_at = self._clock.now()
            self._audit.record_in(s, AuditEvent(
                action="session.document_processed", tenant_id=tenant_id,
                target_type="session", target_id=session_id,
                details={"state": result.state.value, "reasons": list(result.reasons)}))
            if self._sessions.decide_if_complete(s, row, workflow) is not None:
                decided_blobs = self._pending_blob_keys(s, session_id)
        self._delete_blobs(decided_blobs)

    def _document_result(self, s: Session, row: VerificationSession, workflow: Any,
                         doc: ExtractedDocument, token: str, index: str,
                         existing: SessionDocument | None) -> StepResult:
        if existing is not None:
            if existing.document_index != index:
                return StepResult(StepState.FAILED, ("front_back_mismatch",),
                                  {"document_valid": False})
            doc_row = existing
        else:
            bind_protection(s, self._protection)
            doc_row = SessionDocument(
                id=new_id("doc"), session_id=row.id, tenant_id=row.tenant_id,
                subject_key_id=self._protection.subject_key(row.tenant_id,
                                                            row.subject_key_id),
                document_type=doc.document_type, document_number_token=token,
                document_index=index, names_verified=doc.names_verified,
                created_at=self._clock.now())
            s.add(doc_row)
            doc_row.issuing_country = doc.issuing_country
            doc_row.surname = doc.surname
            doc_row.given_names = doc.given_names
            doc_row.nationality = doc.nationality
            doc_row.birth_date = doc.birth_date.isoformat() if doc.birth_date else None
            doc_row.sex = doc.sex
            doc_row.expiry_date = doc.expiry_date.isoformat() if doc.expiry_date else None
        duplicate = s.scalar(select(SessionDocument.id).where(
            SessionDocument.tenant_id == row.tenant_id,
            SessionDocument.document_index == index,
            SessionDocument.session_id != row.id).limit(1)) is not None
        today: date = self._clock.now().date()
        return check_document(doc, workflow, today, duplicate=duplicate)

    # -- retention ---------------------------------------------------------------------------
    def images_due(self, s: Session, event: SessionDecided) -> None:
        """At decision the raw images are due: at once by default, or after the tenant's
        configured retention (for a reviewer to look at them)."""
        due = self._clock.now() + timedelta(seconds=self._retention(event.tenant_id))
        for cap in s.scalars(select(Capture).where(Capture.session_id == event.session_id,
                                                   Capture.deleted_at.is_(None))):
            cap.delete_after = due

    def _pending_blob_keys(self, s: Session, session_id: str) -> list[str]:
        now = self._clock.now()
        keys = []
        for cap in s.scalars(select(Capture).where(Capture.session_id == session_id,
                                                   Capture.deleted_at.is_(None),
                                                   Capture.delete_after <= now)):
            cap.deleted_at = now
            keys.append(cap.blob_key)
        return keys

    def _delete_blobs(self, keys: list[str]) -> None:
        for key in keys:
            self._blobs.delete(key)

    def submit(self, actor: Actor, session_id: str) -> SessionView:
        view = self._sessions.submit(actor, session_id)
        if view.decided_at is not None:
            with self._db.session() as s:
                keys = self._pending_blob_keys(s, session_id)
            self._delete_blobs(keys)
        return view

    def sweep_images(self) -> list[str]:
        """Delete the raw images whose deadline has passed; their blob keys."""
        now = self._clock.now()
        with self._db.session() as s:
            due = list(s.scalars(select(Capture).where(Capture.deleted_at.is_(None),
                                                       Capture.delete_after <= now)))
            keys = []
            for cap in due:
                cap.deleted_at = now
                keys.append(cap.blob_key)
        self._delete_blobs(keys)
        return keys

    def sweep(self) -> dict[str, int]:
        """Enforce deadlines even after a crash: delete due images, expire sessions,
        re-queue captures whose job was lost."""
        now = self._clock.now()
        expired = self._sessions.expire_due()
        # Before the re-queue below: a session past the job timeout is decided, not retried.
        settled = self._sessions.settle_overdue(self._job_timeout)
        keys = self.sweep_images()
        with self._db.read() as s:
            stuck = s.execute(select(Capture.session_id, Capture.id).join(
                SessionStep, (SessionStep.session_id == Capture.session_id)
                & (SessionStep.step == "document")).where(
                Capture.processed_at.is_(None), Capture.deleted_at.is_(None),
                SessionStep.state == StepState.PROCESSING.value,
                SessionStep.updated_at <= now - self._stuck_after)).all()
        for sid, cid in stuck:
            self._tasks.enqueue(PROCESS_CAPTURE, sid, cid)
        return {"expired": expired, "settled": len(settled), "images_deleted": len(keys),
                "requeued": len(stuck)}

    # -- personal data -----------------------------------------------------------------------
    def read_data(self, actor: Actor, session_id: str, purpose: str) -> DocumentData:
        purpose = purpose.strip()
        if not purpose or len(purpose) > 200 or not purpose.isprintable():
            raise ValidationFailed("state why you read this data: a short purpose",
                                   code="purpose_required")
        with self._db.session() as s:
            bind_protection(s, self._protection)
            row = get_owned(s, VerificationSession, session_id, actor.tenant_id,
                            code="session_not_found")
            doc = s.scalar(select(SessionDocument)
                           .where(SessionDocument.session_id == row.id))
            fields: dict[str, Any] = {"document": None}
            if doc is not None:
                fields["document"] = {
                    "document_type": doc.document_type,
                    "issuing_country": doc.issuing_country, "surname": doc.surname,
                    "given_names": doc.given_names, "names_verified": doc.names_verified,
                    "nationality": doc.nationality, "birth_date": doc.birth_date,
                    "sex": doc.sex, "expiry_date": doc.expiry_date,
                    "document_number_token": doc.document_number_token,
                }
            self._audit.record_in(s, AuditEvent(
                action="session.pii_read", actor_type=actor.actor_type,
                actor_id=actor.client_id,
                tenant_id=actor.tenant_id, target_type="session", target_id=row.id,
                ip=actor.ip, request_id=actor.request_id, purpose=purpose))
        return DocumentData(fields)

    def erase(self, actor: Actor, session_id: str,
              check: Callable[[Session, VerificationSession], bool] | None = None) -> bool:
        """Delete the session and its images, and shred the person's key. With `check`,
        only if it still holds under the row lock (the purge: no review or hold since);
        returns whether the session was erased."""
        with self._db.session() as s:
            row = self._sessions.load_for_update(s, actor.tenant_id, session_id)
            if check is not None and not check(s, row):
                return False
            caps = list(s.scalars(select(Capture).where(Capture.session_id == row.id)))
            keys = [c.blob_key for c in caps if c.deleted_at is None]
            subject, tenant_id = row.subject_key_id, row.tenant_id
            self._sessions.emit(s, row, "session.erased")
            for model in (SessionDocument, Capture, SessionStep, SessionReason):
                s.execute(delete(model).where(model.session_id == row.id))
            s.delete(row)
            self._audit.record_in(s, AuditEvent(
                action="session.erased", actor_type=actor.actor_type,
                actor_id=actor.client_id,
                tenant_id=tenant_id, target_type="session", target_id=session_id,
                ip=actor.ip, request_id=actor.request_id))
        self._delete_blobs(keys)
        found = self._protection.store.find_subject(tenant_id, subject)
        if found is not None and not found.shredded:
            self._vault.forget_subject(tenant_id, found.key_id)
            self._protection.shred(found.key_id, tenant_id=tenant_id,
                                   actor_type=actor.actor_type, actor_id=actor.client_id,
                                   request_id=actor.request_id)
        return True

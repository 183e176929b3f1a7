"""The document job: read one capture's document, record the step's result, decide.

Run by a worker after the upload commits (task `process_capture`, args: session id, capture
id). The image is decrypted in memory only; the document number goes to the vault and to a
blind index; the fields are sealed under the person's key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock
from idproof.core.errors import NotFound
from idproof.core.ids import new_id
from idproof.crypto.errors import SubjectKeyShredded
from idproof.crypto.fields import bind_protection
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.vault.service import VaultService
from idproof.verification.blobs import BlobNotFound, BlobStore
from idproof.verification.decision import StepResult, StepState
from idproof.verification.document.checks import ExtractedDocument, check_document
from idproof.verification.document.reader import DocumentReader, ReadOutcome
from idproof.verification.lifecycle import DECIDED, FINAL, Status
from idproof.verification.models import Capture, SessionDocument, SessionStep, VerificationSession
from idproof.verification.service import SessionService
from idproof.workflows.catalog import Workflow

log = structlog.get_logger("idproof.verification")
# The document job: read the document of one capture (args: session id, capture id).
PROCESS_CAPTURE = "process_capture"
# A job arriving for a settled session (decided, in review, or closed) changes nothing.
SETTLED = FINAL | DECIDED


@dataclass(frozen=True, slots=True)
class _Read:
    """What the engines read from one capture, before anything is written."""

    tenant_id: str
    workflow: Workflow
    outcome: ReadOutcome
    token: str | None
    index: str | None


class DocumentJob:
    """Reads a capture and records the document step's result. `release_images(s, id)`
    marks the session's due images deleted and returns their blob keys (the session may
    have just been decided); `delete_blobs(keys)` deletes them after the commit."""

    def __init__(self, db: Database, audit: AuditService, protection: DataProtection,
                 vault: VaultService, blobs: BlobStore, sessions: SessionService,
                 reader: DocumentReader, clock: Clock, *,
                 release_images: Callable[[Session, str], list[str]],
                 delete_blobs: Callable[[list[str]], None]) -> None:
        self._db = db
        self._audit = audit
        self._protection = protection
        self._vault = vault
        self._blobs = blobs
        self._sessions = sessions
        self._reader = reader
        self._clock = clock
        self._release_images = release_images
        self._delete_blobs = delete_blobs

    def process(self, session_id: str, capture_id: str) -> None:
        try:
            read = self._read(session_id, capture_id)
            if read is not None:
                self._delete_blobs(self._record(session_id, capture_id, read))
        except (SubjectKeyShredded, BlobNotFound, NotFound) as exc:
            # The subject was erased while the job ran (key shredded, image or session
            # gone): nothing is left to read or to write; stop without a retry.
            log.info("capture_job_subject_erased", error_type=type(exc).__name__)

    def _read(self, session_id: str, capture_id: str) -> _Read | None:
        """Decrypt and read the capture (no transaction held while the engines run)."""
        with self._db.read() as s:
            cap = s.get(Capture, capture_id)
            row = s.get(VerificationSession, session_id)
            if (cap is None or row is None or cap.session_id != session_id
                    or cap.deleted_at is not None or cap.processed_at is not None):
                return None
            if Status(row.status) in SETTLED:
                return None
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
        return _Read(tenant_id, workflow, outcome, token, index)

    def _record(self, session_id: str, capture_id: str, read: _Read) -> list[str]:
        """The step's result, in one transaction; the blob keys to delete if decided."""
        with self._db.session() as s:
            row = self._sessions.load_for_update(s, read.tenant_id, session_id)
            cap = s.get(Capture, capture_id)
            if cap is None or cap.processed_at is not None or Status(row.status) in SETTLED:
                return []
            cap.processed_at = self._clock.now()
            step = self._sessions.find_step(s, session_id, "document")
            assert step is not None
            result = self._result(s, row, step, capture_id, read)
            if result is None:
                return []
            self._sessions.record_step(s, row, step, result.state, reasons=result.reasons,
                                       facts=result.facts)
            self._audit.record_in(s, AuditEvent(
                action="session.document_processed", tenant_id=read.tenant_id,
                target_type="session", target_id=session_id,
                details={"state": result.state.value, "reasons": list(result.reasons)}))
            if self._sessions.decide_if_complete(s, row, read.workflow) is not None:
                return self._release_images(s, session_id)
        return []

    def _result(self, s: Session, row: VerificationSession, step: SessionStep,
                capture_id: str, read: _Read) -> StepResult | None:
        """The document step's result after this capture; None while another side of the
        document is still being read."""
        existing = s.scalar(select(SessionDocument)
                            .where(SessionDocument.session_id == row.id))
        doc = read.outcome.document
        if doc is not None and read.token is not None and read.index is not None:
            return self._document_result(s, row, read.workflow, doc, read.token, read.index,
                                         existing)
        if existing is not None:
            # The other side was read already: an unreadable side changes nothing, and the
            # step gets back the result that read gave (its reasons and facts are still on
            # the step; the upload only marked it processing).
            return StepResult(StepState.FAILED if step.reasons else StepState.PASSED,
                              tuple(step.reasons or ()), dict(step.facts or {}))
        if s.scalar(select(Capture.id).where(
                Capture.session_id == row.id, Capture.id != capture_id,
                Capture.processed_at.is_(None), Capture.deleted_at.is_(None)).limit(1)):
            # Another side is still being read (the back of a licence carries the barcode;
            # its front carries nothing machine-readable): let it answer.
            return None
        reason = read.outcome.reason or "document_unreadable"
        # Once submitted, nothing can be retaken: the step fails with its reason.
        retry = (reason == "document_unreadable" and row.submitted_at is None
                 and step.attempts < read.workflow.max_attempts)
        return StepResult(StepState.RETRY if retry else StepState.FAILED, (reason,),
                          {"document_valid": False})

    def _document_result(self, s: Session, row: VerificationSession, workflow: Any,
                         doc: ExtractedDocument, token: str, index: str,
                         existing: SessionDocument | None) -> StepResult:
        if existing is not None:
            if existing.document_index != index:
                return StepResult(StepState.FAILED, ("front_back_mismatch",),
                                  {"document_valid": False})
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
            # Sealed at assignment: the row is bound to the session's data protection.
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
        return check_document(doc, workflow, today, duplicate=duplicate,
                              accepted=self._sessions.accepted_documents(row.tenant_id, s))

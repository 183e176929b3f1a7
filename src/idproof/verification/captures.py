"""Captures: upload, image retention and the sweep; the document job and the person's data
are their own modules (`document_job.py`, `subject_data.py`), reached through this service.

Raw images are sealed under the person's data key the moment they arrive, processed by a
worker, and deleted when the session is decided (the default retention).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import ValidationFailed
from idproof.core.events import DocumentFrontStored, EventBus, SessionDecided
from idproof.core.ids import new_id
from idproof.core.tasks import TaskQueue
from idproof.crypto.protection import DataProtection
from idproof.db.after_commit import after_commit
from idproof.db.engine import Database
from idproof.db.tenancy import get_owned
from idproof.security.uploads import sanitize_image
from idproof.vault.service import VaultService
from idproof.verification.blobs import BlobStore
from idproof.verification.decision import StepState
from idproof.verification.document.reader import DocumentReader
from idproof.verification.document_job import PROCESS_CAPTURE, DocumentJob
from idproof.verification.models import (
    Capture,
    SessionStep,
    VerificationSession,
)
from idproof.verification.schemas import SessionView
from idproof.verification.service import Actor, SessionService
from idproof.verification.subject_data import SessionSubjectData

__all__ = ["PROCESS_CAPTURE", "CaptureService", "DocumentData"]
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
        self.job = DocumentJob(db, audit, protection, vault, blobs, sessions, reader,
                               self._clock, release_images=self._pending_blob_keys,
                               delete_blobs=self._delete_blobs)
        self.subject_data = SessionSubjectData(db, audit, protection, vault, blobs, sessions)

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
            step = self._sessions.find_step(s, row.id, "document")
            if step is None:
                raise ValidationFailed("this workflow has no document step",
                                       code="step_not_in_workflow")
            # A front and its back are one attempt: attempts count the photos of the side
            # tried most often (the new capture included).
            same_side = s.scalar(select(func.count()).select_from(Capture).where(
                Capture.session_id == row.id, Capture.kind == f"document_{side}")) or 0
            self._sessions.record_step(
                s, row, step, StepState.PROCESSING, reasons=step.reasons or (),
                attempts=max(step.attempts, same_side), activity=True)
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

    # -- the job (document_job.py) ----------------------------------------------------------
    def process(self, session_id: str, capture_id: str) -> None:
        """The `process_capture` task."""
        self.job.process(session_id, capture_id)

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

    # -- personal data (subject_data.py) ----------------------------------------------------
    def read_data(self, actor: Actor, session_id: str, purpose: str) -> DocumentData:
        return DocumentData(self.subject_data.read_fields(actor, session_id, purpose))

    def erase(self, actor: Actor, session_id: str,
              check: Callable[[Session, VerificationSession], bool] | None = None) -> bool:
        return self.subject_data.erase(actor, session_id, check)

"""A session's personal data, behind `core.data_subject.DataSubject`: read it (audited with a
purpose) and erase it (rows deleted, images deleted, the person's key shredded)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.errors import ValidationFailed
from idproof.crypto.fields import bind_protection
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.db.tenancy import get_owned
from idproof.vault.service import VaultService
from idproof.verification.blobs import BlobStore
from idproof.verification.models import (
    Capture,
    SessionDocument,
    SessionReason,
    SessionStep,
    VerificationSession,
)
from idproof.verification.service import Actor, SessionService


class SessionSubjectData:
    """The `DataSubject` of verification sessions."""

    def __init__(self, db: Database, audit: AuditService, protection: DataProtection,
                 vault: VaultService, blobs: BlobStore, sessions: SessionService) -> None:
        self._db = db
        self._audit = audit
        self._protection = protection
        self._vault = vault
        self._blobs = blobs
        self._sessions = sessions

    def read_fields(self, actor: Actor, session_id: str, purpose: str) -> dict[str, Any]:
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
        return fields

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
        for key in keys:
            self._blobs.delete(key)
        found = self._protection.store.find_subject(tenant_id, subject)
        if found is not None and not found.shredded:
            self._vault.forget_subject(tenant_id, found.key_id)
            self._protection.shred(found.key_id, tenant_id=tenant_id,
                                   actor_type=actor.actor_type, actor_id=actor.client_id,
                                   request_id=actor.request_id)
        return True

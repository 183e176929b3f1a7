"""Subject access and erasure: every session of one `reference` exported or destroyed."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.models import AuditEventRow
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.data_subject import DataSubject
from idproof.core.errors import Conflict, NotFound, ValidationFailed
from idproof.core.ids import new_id
from idproof.crypto.errors import CryptoError
from idproof.crypto.fields import bind_protection
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.privacy.contacts_section import workflow_contacts
from idproof.privacy.models import ConsentGrant, LegalHold
from idproof.privacy.package import Encryption, build_zip, check_encryption, encrypt
from idproof.privacy.screening_section import screening_hits
from idproof.signals.models import SignalFace
from idproof.vault.models import VaultToken
from idproof.verification.biometrics.models import SelfieTemplate
from idproof.verification.blobs import BlobNotFound, BlobStore
from idproof.verification.models import (
    Capture,
    SessionDocument,
    SessionStep,
    VerificationSession,
)
from idproof.verification.service import Actor

log = structlog.get_logger("idproof.privacy")
# (session, tenant_id, event type, data): the webhook outbox, wired by bootstrap.
Emit = Callable[[Session, str, str, dict[str, Any]], object]
# (session, tenant_id, session ids) -> rows for the export: screening hits and other
# features' records about the subject, registered by bootstrap.
Section = Callable[[Session, str, list[str]], list[dict[str, Any]]]
_DOC_FIELDS = ("issuing_country", "surname", "given_names", "nationality", "birth_date",
               "sex", "expiry_date")


def subject_digest(tenant_id: str, reference: str) -> str:
    """A stable pseudonymous id of (tenant, reference) for audit targets (64 chars max)."""
    return "subj_" + hashlib.sha256(f"{tenant_id}\x00{reference}".encode()).hexdigest()[:32]


def clean_purpose(purpose: str) -> str:
    text = (purpose or "").strip()
    if not text or len(text) > 200 or not text.isprintable():
        raise ValidationFailed("state why you export this data: a short purpose",
                               code="purpose_required")
    return text


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class Export:
    """The encrypted package and what it holds (counts only, for the caller's log)."""

    content: bytes
    sessions: int
    images: int
    audit_event_id: str


class SubjectService:
    def __init__(self, db: Database, audit: AuditService, protection: DataProtection,
                 blobs: BlobStore, data: DataSubject, clock: Clock | None = None,
                 *, emit: Emit | None = None) -> None:
        self._db = db
        self._audit = audit
        self._protection = protection
        self._blobs = blobs
        self._data = data  # a session's personal data: erased through it
        self._clock = clock or SystemClock()
        # The webhook outbox (`subject.erased`); none in tools that send no webhooks.
        self._emit: Emit = emit or (lambda _s, _t, _e, _d: None)
        self._sections: dict[str, Section] = {
            "screening_hits": screening_hits,
            "workflow_contacts": partial(workflow_contacts, protection)}

    def add_section(self, name: str, section: Section) -> None:
        """Another feature's records about the subject, exported under `name`."""
        self._sections[name] = section

    def session_ids(self, tenant_id: str, reference: str) -> list[str]:
        with self._db.read() as s:
            return list(s.scalars(select(VerificationSession.id).where(
                VerificationSession.tenant_id == tenant_id,
                VerificationSession.reference == reference)
                .order_by(VerificationSession.created_at, VerificationSession.id)))

    def _not_found(self, actor: Actor, action: str, reference: str,
                   purpose: str | None) -> NotFound:
        self._audit.record(AuditEvent(
            action=action, outcome="failure", actor_type=actor.actor_type,
            actor_id=actor.client_id, tenant_id=actor.tenant_id, target_type="subject",
            target_id=subject_digest(actor.tenant_id, reference), ip=actor.ip,
            request_id=actor.request_id, purpose=purpose,
            details={"reason": "subject_not_found"}))
        return NotFound("no sessions of this reference in your tenant",
                        code="subject_not_found")

    # -- access --------------------------------------------------------------------------------
    def export(self, actor: Actor, reference: str, purpose: str, enc: Encryption,
               tenant_name: str | None = None) -> Export:
        """The encrypted package of everything held about `reference` (audited)."""
        stated = clean_purpose(purpose)
        check_encryption(enc)
        ids = self.session_ids(actor.tenant_id, reference)
        if not ids:
            raise self._not_found(actor, "subject.export_refused", reference, stated)
        now = self._clock.now()
        files: dict[str, bytes] = {}
        with self._db.session() as s:
            bind_protection(s, self._protection)
            sessions = [self._session_data(s, sid, files) for sid in ids]
            data: dict[str, Any] = {
                "format": "idproof-subject-export/1", "tenant": tenant_name or actor.tenant_id,
                "reference": reference, "exported_at": now.isoformat(), "purpose": stated,
                "sessions": sessions,
                "audit_events": self._audit_rows(s, actor.tenant_id, reference, ids),
            }
            for name, section in self._sections.items():
                data[name] = section(s, actor.tenant_id, ids)
            event_id = self._audit.record_in(s, AuditEvent(
                action="subject.exported", actor_type=actor.actor_type,
                actor_id=actor.client_id, tenant_id=actor.tenant_id, target_type="subject",
                target_id=subject_digest(actor.tenant_id, reference), ip=actor.ip,
                request_id=actor.request_id, purpose=stated,
                details={"sessions": ids[:20], "session_count": len(ids),
                         "images": len(files),
                         "encryption": "passphrase" if enc.passphrase else "recipient"}))
        content = encrypt(build_zip(data, files), enc)
        return Export(content, len(ids), len(files), event_id)

    def _session_data(self, s: Session, sid: str, files: dict[str, bytes]) -> dict[str, Any]:
        row = s.get(VerificationSession, sid)
        assert row is not None
        steps = s.scalars(select(SessionStep).where(SessionStep.session_id == sid)
                          .order_by(SessionStep.step))
        out: dict[str, Any] = {
            "id": row.id, "workflow": row.workflow_id, "workflow_version": row.workflow_version,
            "status": row.status, "locale": row.locale, "metadata": dict(row.meta or {}),
            "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
            "expires_at": _iso(row.expires_at), "submitted_at": _iso(row.submitted_at),
            "decided_at": _iso(row.decided_at), "decision": row.decision,
            "steps": [{"step": st.step, "state": st.state, "reasons": list(st.reasons or []),
                       "facts": dict(st.facts or {}), "attempts": st.attempts,
                       "updated_at": _iso(st.updated_at)} for st in steps],
            "extracted_fields": None, "images": [], "consents": [],
            "face_template_held": s.get(SelfieTemplate, sid) is not None,
        }
        doc = s.scalar(select(SessionDocument).where(SessionDocument.session_id == sid))
        if doc is not None:
            fields: dict[str, Any] = {"document_type": doc.document_type,
                                      "names_verified": doc.names_verified,
                                      "document_number_token": doc.document_number_token}
            try:
                for name in _DOC_FIELDS:
                    fields[name] = getattr(doc, name)
                token = s.get(VaultToken, doc.document_number_token)
                fields["document_number"] = token.value if token is not None else None
            except CryptoError:
                fields = {"erased": True}
            out["extracted_fields"] = fields
        for cap in s.scalars(select(Capture).where(Capture.session_id == sid,
                                                   Capture.deleted_at.is_(None))
                             .order_by(Capture.created_at, Capture.id)):
            try:
                image = self._protection.decrypt(
                    cap.tenant_id, "session_captures", "image", cap.id, None,
                    self._blobs.get(cap.blob_key))
            except (BlobNotFound, CryptoError):
                continue  # deleted by the sweep meanwhile: nothing to export
            name = f"images/{sid}/{cap.kind}-{cap.id}.jpg"
            files[name] = image
            out["images"].append({"file": name, "kind": cap.kind,
                                  "created_at": _iso(cap.created_at)})
        for grant in s.scalars(select(ConsentGrant).where(ConsentGrant.session_id == sid)
                               .order_by(ConsentGrant.accepted_at)):
            out["consents"].append({
                "text_version": grant.text_version, "locale": grant.locale,
                "accepted_at": _iso(grant.accepted_at), "ip": grant.ip,
                "withdrawn_at": _iso(grant.withdrawn_at)})
        return out

    def _audit_rows(self, s: Session, tenant_id: str, reference: str,
                    ids: list[str]) -> list[dict[str, Any]]:
        stmt = select(AuditEventRow).where(
            AuditEventRow.tenant_id == tenant_id,
            or_(AuditEventRow.target_id.in_(ids),
                AuditEventRow.target_id == subject_digest(tenant_id, reference))
        ).order_by(AuditEventRow.idx)
        return [{"event_id": e.event_id, "occurred_at": _iso(e.occurred_at),
                 "action": e.action, "outcome": e.outcome, "actor_type": e.actor_type,
                 "actor_id": e.actor_id, "purpose": e.purpose} for e in s.scalars(stmt)]

    # -- erasure -------------------------------------------------------------------------------
    def erase(self, actor: Actor, reference: str) -> dict[str, Any]:
        """Erase every session of `reference` (images, fields, templates, consents, vault
        entries; each data key shredded) and return a receipt without personal data."""
        ids = self.session_ids(actor.tenant_id, reference)
        if not ids:
            raise self._not_found(actor, "subject.erase_refused", reference, None)
        with self._db.read() as s:
            held = list(s.scalars(select(LegalHold.session_id).where(
                LegalHold.session_id.in_(ids), LegalHold.released_at.is_(None))))
            if held:
                self._audit.record(AuditEvent(
                    action="subject.erase_refused", outcome="failure",
                    actor_type=actor.actor_type, actor_id=actor.client_id,
                    tenant_id=actor.tenant_id, target_type="subject",
                    target_id=subject_digest(actor.tenant_id, reference), ip=actor.ip,
                    request_id=actor.request_id, details={"reason": "legal_hold",
                                                          "sessions": sorted(held)[:20]}))
                raise Conflict("sessions of this subject are under a legal hold",
                               code="legal_hold")
            entries = [self._inventory(s, actor.tenant_id, sid) for sid in ids]
        for entry in entries:
            try:
                self._data.erase(actor, entry["session_id"])
            except NotFound:
                entry["already_gone"] = True  # erased by a concurrent request or the sweep
        now = self._clock.now()
        receipt: dict[str, Any] = {
            "receipt_id": new_id("rcp"), "reference": reference,
            "erased_at": now.isoformat(), "sessions": entries,
            "totals": {k: sum(int(e[k]) for e in entries) for k in (
                "images_deleted", "document_records_deleted", "face_templates_deleted",
                "face_index_entries_deleted", "consent_records_deleted",
                "vault_entries_erased", "data_keys_shredded")},
            "kept": ["audit events (they hold no personal data)"],
        }
        with self._db.session() as s:
            receipt["audit_event_id"] = self._audit.record_in(s, AuditEvent(
                action="subject.erased", actor_type=actor.actor_type, actor_id=actor.client_id,
                tenant_id=actor.tenant_id, target_type="subject",
                target_id=subject_digest(actor.tenant_id, reference), ip=actor.ip,
                request_id=actor.request_id,
                details={"receipt_id": receipt["receipt_id"], "session_count": len(ids),
                         "sessions": ids[:20]}))
            self._emit(s, actor.tenant_id, "subject.erased", {
                "reference": reference, "receipt_id": receipt["receipt_id"],
                "sessions": ids, "erased_at": receipt["erased_at"]})
        log.info("subject_erased", sessions=len(ids), receipt_id=receipt["receipt_id"])
        return receipt

    def _inventory(self, s: Session, tenant_id: str, sid: str) -> dict[str, Any]:
        """What erasing one session destroys (counts and ids only)."""
        row = s.get(VerificationSession, sid)
        assert row is not None
        found = self._protection.store.find_subject(tenant_id, row.subject_key_id)
        key_id = found.key_id if found is not None else None
        live = found is not None and not found.shredded

        def count(stmt: Any) -> int:
            return int(s.scalar(stmt) or 0)

        return {
            "session_id": sid, "status": row.status,
            "images_deleted": count(select(func.count()).select_from(Capture).where(
                Capture.session_id == sid, Capture.deleted_at.is_(None))),
            "document_records_deleted": count(select(func.count()).select_from(
                SessionDocument).where(SessionDocument.session_id == sid)),
            "face_templates_deleted": count(select(func.count()).select_from(
                SelfieTemplate).where(SelfieTemplate.session_id == sid)),
            "consent_records_deleted": count(select(func.count()).select_from(
                ConsentGrant).where(ConsentGrant.session_id == sid)),
            # The 1:N face index drops them on `session.erased` (signals' subscription).
            "face_index_entries_deleted": count(select(func.count()).select_from(
                SignalFace).where(SignalFace.tenant_id == tenant_id,
                                  SignalFace.session_id == sid)),
            "vault_entries_erased": count(select(func.count()).select_from(VaultToken).where(
                VaultToken.tenant_id == tenant_id, VaultToken.subject_key_id == key_id,
                VaultToken.value_sealed.is_not(None))) if key_id else 0,
            "data_key": key_id, "data_keys_shredded": 1 if live else 0,
        }

"""Tables of verification sessions, their steps and their captured images."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from idproof.crypto.fields import Encrypted
from idproof.db.base import Base, UTCDateTime


class VerificationSession(Base):
    __tablename__ = "verification_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40), index=True)
    client_id: Mapped[str] = mapped_column(String(40))
    workflow_id: Mapped[str] = mapped_column(String(50))
    workflow_version: Mapped[int] = mapped_column(Integer)
    # The app's own opaque user id: documented as "not personal data", used for filtering.
    reference: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(20), index=True)
    locale: Mapped[str | None] = mapped_column(String(16), nullable=True)
    callback_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    # The person's data key in the key store; shredding it erases every ciphertext of theirs.
    subject_key_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    link_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Counted in the console's daily rollups (set, once final, by the rollup sweep): the
    # dashboard reads rolled-up sessions from the rollups and the others from this table.
    rolled_up: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_sessions_idempotency"),
        Index("ix_sessions_tenant_reference", "tenant_id", "reference"),
        # The review queue: a tenant's sessions in one status, oldest decision first.
        Index("ix_sessions_tenant_status_decided", "tenant_id", "status", "decided_at"),
    )


class SessionReason(Base):
    """One reason code of a session's decision: written with the decision (`reasons.py`),
    so that the console filters by reason with an index instead of searching JSON text."""

    __tablename__ = "session_reasons"

    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id",
                                                       ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    # The session's creation time, copied: the sessions list by reason reads this index in
    # the list's order (newest first) and stops after one page.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_session_reasons_tenant_reason_created", "tenant_id", "reason",
              "created_at", "session_id"),
    )


class SessionStep(Base):
    __tablename__ = "session_steps"

    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id",
                                                       ondelete="CASCADE"), primary_key=True)
    step: Mapped[str] = mapped_column(String(20), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Capture(Base):
    """One uploaded image: the bytes live encrypted in the blob store until the deadline."""

    __tablename__ = "session_captures"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id",
                                                       ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(32))  # document_front, document_back
    blob_key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delete_after: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SessionDocument(Base):
    """What was read from the session's document: every personal field sealed under the
    person's data key; the number tokenized in the vault and blind-indexed for duplicates."""

    __tablename__ = "session_documents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id",
                                                       ondelete="CASCADE"), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    subject_key_id: Mapped[str] = mapped_column(String(64))
    document_type: Mapped[str] = mapped_column(String(32))
    document_number_token: Mapped[str] = mapped_column(String(64))
    # HMAC of issuing country + number under the tenant's blind-index key.
    document_index: Mapped[str] = mapped_column(String(32))
    names_verified: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issuing_country = Encrypted(as_text=True)
    surname = Encrypted(as_text=True)
    given_names = Encrypted(as_text=True)
    nationality = Encrypted(as_text=True)
    birth_date = Encrypted(as_text=True)
    sex = Encrypted(as_text=True)
    expiry_date = Encrypted(as_text=True)

    __table_args__ = (Index("ix_session_documents_tenant_index", "tenant_id",
                            "document_index"),)


class ReviewSettings(Base):
    """A tenant's review rules: the queue's SLA and whether declines need four eyes."""

    __tablename__ = "review_settings"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sla_hours: Mapped[int] = mapped_column(Integer, default=24)
    four_eyes: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReviewAssignment(Base):
    """Who works on a session in review (one reviewer at a time)."""

    __tablename__ = "review_assignments"

    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id",
                                                       ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40), index=True)
    operator_id: Mapped[str] = mapped_column(String(40), index=True)
    assigned_by: Mapped[str] = mapped_column(String(40))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReviewProposal(Base):
    """A decision waiting for a second reviewer (four eyes). The note may be personal data:
    it never leaves the console, the audit log and this row."""

    __tablename__ = "review_proposals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id",
                                                       ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    decision: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # confirmed (a second reviewer agreed) or superseded (another decision was taken)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AcceptedDocumentsRow(Base):
    """A tenant's accepted issuing countries and document types (empty lists: every one).
    A tenant without a row accepts every document the workflow offers."""

    __tablename__ = "tenant_accepted_documents"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # ISO 3166-1 alpha-3 (and ICAO) codes, sorted.
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Document types as the reader names them (passport, id_card, ...).
    document_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

"""Tables of the privacy package: retention policies, legal holds, consent texts and records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idproof.db.base import Base, UTCDateTime


class RetentionPolicy(Base):
    """A tenant's retention settings; a tenant without a row has the documented defaults.
    Raw images stay on the tenant (`image_retention_seconds`), where the decision reads them."""

    __tablename__ = "privacy_retention_policies"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Sessions with extracted fields (approved, in review, ...): erased this long after the
    # decision (or creation when never decided).
    extracted_fields_days: Mapped[int] = mapped_column(Integer)
    # Declined, abandoned, expired and cancelled sessions.
    unsuccessful_days: Mapped[int] = mapped_column(Integer)
    # Sealed face templates after the decision (0: at the decision).
    face_templates_hours: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LegalHold(Base):
    """A session that must not be purged until the hold is released."""

    __tablename__ = "privacy_legal_holds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[str] = mapped_column(String(40))
    # The operator's case number (a code, not personal data).
    case_ref: Mapped[str] = mapped_column(String(64))
    placed_by: Mapped[str] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    released_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_privacy_holds_session", "session_id", "released_at"),
                      Index("ix_privacy_holds_tenant", "tenant_id"))


class ConsentText(Base):
    """One version of a tenant's consent text in one locale (immutable once published)."""

    __tablename__ = "privacy_consent_texts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("tenant_id", "locale", "version",
                                       name="uq_privacy_consent_texts_version"),)


class ConsentGrant(Base):
    """One acceptance of a consent text: the IP is cut to its network after 30 days."""

    __tablename__ = "privacy_consents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id",
                                                       ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    text_version: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(16))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip_truncated: Mapped[bool] = mapped_column(default=False)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PurgeRun(Base):
    """One run of the retention purge (the daily sweep or `idproof privacy purge`)."""

    __tablename__ = "privacy_purge_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dry_run: Mapped[bool] = mapped_column(default=False)
    actor: Mapped[str] = mapped_column(String(64))
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)

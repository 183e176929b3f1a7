"""Tables of list snapshots (one active per source), their entries, and tenant settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idproof.db.base import Base, UTCDateTime


class ScreeningSnapshot(Base):
    """One imported version of a list: `loading` while its entries are written, then `active`
    (the previous active one becoming `superseded`) in one transaction, or `failed`."""

    __tablename__ = "screening_snapshots"
    __table_args__ = (Index("ix_screening_snapshots_source", "source", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    entry_count: Mapped[int] = mapped_column(Integer, default=0)
    file_sha256: Mapped[str] = mapped_column(String(64))
    added: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ScreeningEntry(Base):
    """One designated person or entity of a snapshot; `digest` tells changed entries apart."""

    __tablename__ = "screening_entries"

    snapshot_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))


class ScreeningSettings(Base):
    """A tenant's screening threshold and whether its approved subjects are monitored."""

    __tablename__ = "screening_settings"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    threshold: Mapped[float] = mapped_column(Float)
    monitoring: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ScreeningHit(Base):
    """A list entry found for a session's subject (by its workflow step or by monitoring): a
    review case until an operator confirms or dismisses it. Holds list data and scores only;
    the subject's name stays sealed in the session's document."""

    __tablename__ = "screening_hits"
    __table_args__ = (
        UniqueConstraint("session_id", "source", "entry_id", name="uq_screening_hits_entry"),
        Index("ix_screening_hits_tenant_status", "tenant_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(16))
    entry_id: Mapped[str] = mapped_column(String(128))
    snapshot_id: Mapped[str] = mapped_column(String(40))
    listed_name: Mapped[str] = mapped_column(String(300))
    score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(String(500))
    origin: Mapped[str] = mapped_column(String(16))  # monitoring | step
    status: Mapped[str] = mapped_column(String(16))  # open | confirmed | dismissed
    note: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

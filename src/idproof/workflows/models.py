"""Tables of tenant workflows and their immutable numbered versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, ForeignKeyConstraint, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idproof.db.base import Base, UTCDateTime


class TenantWorkflow(Base):
    __tablename__ = "workflows"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    latest_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WorkflowVersion(Base):
    """One version: its definition never changes; only its status moves
    draft -> published -> archived."""

    __tablename__ = "workflow_versions"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (ForeignKeyConstraint(["tenant_id", "workflow_id"],
                                           ["workflows.tenant_id", "workflows.id"],
                                           ondelete="CASCADE"),)


class SessionContact(Base):
    """What the e-mail, phone and questionnaire steps were given: sealed under the person's
    data key (AES-256-GCM, AAD bound to tenant, table, column and session) with a blind
    index to find repeats; never returned by the API, gone with the session or its key."""

    __tablename__ = "session_contacts"

    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id",
                                                       ondelete="CASCADE"), primary_key=True)
    step: Mapped[str] = mapped_column(String(20), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    sealed_value: Mapped[bytes] = mapped_column(LargeBinary)
    value_index: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

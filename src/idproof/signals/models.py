"""Tables of imported IP datasets, per-session observations, sealed faces and signal results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idproof.db.base import Base, UTCDateTime


class SignalDataset(Base):
    """One import of an IP dataset (geoip, tor, datacenter, vpn); one `active` per kind."""

    __tablename__ = "signal_datasets"
    __table_args__ = (Index("ix_signal_datasets_kind", "kind", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # loading | active | superseded | failed
    entries: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SignalRange(Base):
    """An address range of a dataset; bounds as 32 hex digits so that text order is address
    order for IPv4 (mapped) and IPv6 alike."""

    __tablename__ = "signal_ranges"

    dataset_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    first: Mapped[str] = mapped_column(String(32), primary_key=True)
    last: Mapped[str] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    asn: Mapped[int | None] = mapped_column(Integer, nullable=True)
    org: Mapped[str | None] = mapped_column(String(200), nullable=True)


class SignalObservation(Base):
    """A session was seen with an IP, device, document or face, each as a keyed per-tenant
    hash (never the value itself): velocity and reuse count these."""

    __tablename__ = "signal_observations"
    __table_args__ = (Index("ix_signal_observations_key", "tenant_id", "kind", "key",
                            "observed_at"),
                      Index("ix_signal_observations_session", "session_id"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))  # ip | device | document | face
    key: Mapped[str] = mapped_column(String(64))
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SignalFace(Base):
    """A face of the tenant's 1:N index (an approved subject, or a blocklisted face): the
    embedding sealed under the tenant's face-index key, bound to this row."""

    __tablename__ = "signal_faces"
    __table_args__ = (Index("ix_signal_faces_tenant", "tenant_id"),
                      Index("ix_signal_faces_session", "session_id"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    subject_key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    list: Mapped[str] = mapped_column(String(16))  # approved | blocklist
    sealed_embedding: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SignalResult(Base):
    """The signals of a session: reason codes and their evidence (no personal data)."""

    __tablename__ = "signal_results"

    session_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())

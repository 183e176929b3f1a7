"""Audit log tables: events (the leaves), subtree nodes, tree head, checkpoints, log keys."""

# Triggers (migration 0002) refuse UPDATE and DELETE on all of them but the tree head, whose
# size may only grow.

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from idproof.db.base import Base, UTCDateTime


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # Dense position in the Merkle tree, from 0; assigned under the tree head lock.
    idx: Mapped[int] = mapped_column(BigInteger, unique=True)
    # SHA-256(0x00 || canonical JSON of the fields below); see audit/leaf.py.
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tenant_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    purpose: Mapped[str | None] = mapped_column(String(200), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The event's public id (`aev_...`), given when it was recorded; null for events recorded
    # before migration 0011. A locator only: not part of the leaf.
    event_id: Mapped[str | None] = mapped_column(String(40), nullable=True)

    # A tenant pages through its own events by index.
    __table_args__ = (Index("ix_audit_events_tenant_id_idx", "tenant_id", "idx"),
                      Index("ix_audit_events_event_id", "event_id", unique=True))


class AuditPending(Base):
    """Events recorded but not yet integrated into the tree: the sequencer's queue.

    A request appends its event here in its own transaction (one INSERT); the sequencer moves
    pending events into `audit_events` in batches, numbering them, and deletes them from here
    in the same transaction. Triggers (migration 0011) refuse UPDATE, and DELETE of an event
    that is not in `audit_events`.
    """

    __tablename__ = "audit_pending"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tenant_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    purpose: Mapped[str | None] = mapped_column(String(200), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditNode(Base):
    """A complete subtree's hash; level 0 holds the leaves. Written once, when it completes."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditTreeHead(Base):
    """The one row whose size is the number of leaves; appenders lock it to serialize."""

    __tablename__ = "audit_tree_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),
                      CheckConstraint("size >= 0", name="size_not_negative"))


class AuditCheckpoint(Base):
    """A signed tree head (C2SP tlog-checkpoint note), at most one per tree size."""

    __tablename__ = "audit_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AuditLogKey(Base):
    """The log's Ed25519 note-signing key; the private half sealed under the server secret."""

    __tablename__ = "audit_log_keys"

    key_id: Mapped[str] = mapped_column(String(8), primary_key=True)  # note key ID, hex
    name: Mapped[str] = mapped_column(String(255))  # the signed-note key name
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    sealed_private: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

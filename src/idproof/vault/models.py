"""The vault table: one row per (tenant, kind, value), the value sealed, found by blind index."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idproof.crypto.fields import Encrypted
from idproof.db.base import Base, UTCDateTime


class VaultToken(Base):
    __tablename__ = "vault_tokens"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    # HMAC of the normalised value under a per-tenant key; NULL once the subject is erased,
    # so an erased value can no longer even be confirmed.
    blind_index: Mapped[str | None] = mapped_column(String(32), nullable=True)
    subject_key_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    value = Encrypted(as_text=True, row_id_attr="token")
    if TYPE_CHECKING:
        # The sealed column behind `value`, mapped at class creation by `Encrypted`.
        value_sealed: Mapped[bytes | None]

    __table_args__ = (UniqueConstraint("tenant_id", "kind", "blind_index"),)

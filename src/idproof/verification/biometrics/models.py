"""Tables of liveness challenges (actions, expiry, use) and sealed selfie templates.

Challenges hold no biometric data; the selfie template is sealed and short-lived.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idproof.db.base import Base, UTCDateTime


class LivenessChallenge(Base):
    __tablename__ = "liveness_challenges"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id",
                                                       ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    actions: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set in the same transaction that accepts the answer: a challenge is answered once.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SelfieTemplate(Base):
    """The selfie's 128-D embedding, sealed under the person's data key (AES-256-GCM, AAD
    bound to tenant, table, column and session), kept only until the decision: it lets the
    selfie be matched when the document arrives later, and liveness frames be compared with
    the selfie. Deleted at decision, expiry and erasure; never returned."""

    __tablename__ = "selfie_templates"

    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id",
                                                       ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    sealed_embedding: Mapped[bytes] = mapped_column(LargeBinary)
    pad_suspected: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

"""Tables of the hosted flow: browser sessions bound to a verification session, consent records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from idproof.db.base import Base, UTCDateTime


class BrowserSession(Base):
    """The browser that exchanged a session's link: only a hash of its cookie is kept, so a
    database read does not hand anyone a live cookie."""

    __tablename__ = "hosted_browser_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    cookie_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id",
                                                       ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The document type the person chose (a code such as "passport", not personal data).
    document_type: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ConsentRecord(Base):
    """Who consented to which text version, when. The IP is not stored here: it is on the
    `hosted.consent_given` audit event, like every other audited request's address."""

    __tablename__ = "hosted_consents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id",
                                                       ondelete="CASCADE"), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    text_version: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(16))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())

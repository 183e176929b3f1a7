"""Tables of the hosted flow: browser sessions, consent records, phone hand-offs, branding."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
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


class Handoff(Base):
    """A "continue on my phone" link: single use, short-lived, only its SHA-256 kept. When
    the phone takes it, the desktop's browser session (`from_browser_id`) may only follow."""

    __tablename__ = "hosted_handoffs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id",
                                                       ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    from_browser_id: Mapped[str] = mapped_column(String(40), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    taken_by: Mapped[str | None] = mapped_column(String(40), nullable=True)


class Branding(Base):
    """A tenant's look on the hosted pages: checked when set (colour format and contrast, a
    re-encoded PNG logo of bounded size), served from our own origin so the CSP stays strict."""

    __tablename__ = "hosted_branding"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           primary_key=True)
    display_name: Mapped[str] = mapped_column(String(64))
    accent_color: Mapped[str] = mapped_column(String(7))
    background_color: Mapped[str | None] = mapped_column(String(7), nullable=True)
    privacy_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    support_contact: Mapped[str | None] = mapped_column(String(254), nullable=True)
    logo_png: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    logo_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

"""Tables of console operators: accounts, enrolment links, second factors, sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idproof.db.base import Base, UTCDateTime


class Operator(Base):
    """A person who signs in to the console. The email is personal data: it is used to sign
    in and nowhere else (logs, audit events and URLs carry the operator id)."""

    __tablename__ = "operators"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # Tenant ids; an empty list means every tenant.
    tenants: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Regions; an empty list means every region.
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    assigned_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # pending (enrolment not finished), active, disabled
    status: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The TOTP secret sealed with AES-GCM under a server-derived key (never stored plain).
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The WebAuthn user handle (random, opaque; what a discoverable passkey returns).
    user_handle: Mapped[str] = mapped_column(String(64), unique=True)
    # Single sign-on: SHA-256 of the identity provider's issuer and `sub` (never the raw pair).
    sso_subject: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)


class OperatorEnrollment(Base):
    """A single-use enrolment link: only the SHA-256 of its token is stored."""

    __tablename__ = "operator_enrollments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"),
                                             index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OperatorRecoveryCode(Base):
    __tablename__ = "operator_recovery_codes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"),
                                             index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OperatorPasskey(Base):
    """A WebAuthn credential (public key only) registered by an operator."""

    __tablename__ = "operator_passkeys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"),
                                             index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[list[Any]] = mapped_column(JSON, default=list)
    label: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OperatorSession(Base):
    """A server-side console session; the browser holds a random id, only its hash is here.

    `stage`: `mfa` (password checked, second factor pending), `enrolling` (enrolment link
    used, second factor not yet set up), `full` (signed in)."""

    __tablename__ = "operator_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"),
                                             index=True)
    cookie_hash: Mapped[str] = mapped_column(String(64), unique=True)
    stage: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    mfa_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # A pending WebAuthn challenge (base64url) and what it is for, while a ceremony runs.
    challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    enrollment_id: Mapped[str | None] = mapped_column(String(40), nullable=True)

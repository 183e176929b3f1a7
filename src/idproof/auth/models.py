"""Tables of the auth package: tenants, API clients and their secrets, signing keys, revocations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idproof.db.base import Base, UTCDateTime


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    region: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # How long raw document images are kept after the decision; 0 deletes them at decision.
    image_retention_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Client(Base):
    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(Text)  # space separated, as in OAuth2
    allowed_ips: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Web origins of the client's pages (https://app.example): the hosted page sends SDK
    # messages to these only, and lets them frame it.
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list,
                                                       server_default="[]")
    # The client's own rate limits per route group ({"sessions": "600/minute"}).
    rate_limits: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default="{}")
    # Public JWK for private_key_jwt; never a private key.
    jwk: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ClientSecret(Base):
    __tablename__ = "client_secrets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))  # HMAC-SHA256(pepper, secret)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # None while current; set to the end of the grace period when a newer secret replaces it.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The Ed25519 private key, sealed with AES-GCM under a key derived from the server secret.
    sealed_private: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when a newer key becomes current; the key keeps verifying until retired_at.
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    retire_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RevokedToken(Base):
    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UsedAssertion(Base):
    """jti values of private_key_jwt assertions already seen: the primary key makes reuse fail."""

    __tablename__ = "used_assertions"

    client_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_used_assertions_expires_at", "expires_at"),)

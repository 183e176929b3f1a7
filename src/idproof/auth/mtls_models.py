"""The mTLS registration of an API client (RFC 8705): a subject for tls_client_auth or a key
thumbprint for self_signed_tls_client_auth."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from idproof.db.base import Base, UTCDateTime


class ClientTls(Base):
    __tablename__ = "client_tls"

    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), primary_key=True)
    method: Mapped[str] = mapped_column(String(40))  # tls_client_auth | self_signed_...
    # tls_client_auth: an RFC 4514 subject DN, or `san:<value>` for a subjectAltName.
    tls_subject: Mapped[str | None] = mapped_column(String(512), nullable=True)
    # self_signed_tls_client_auth: the RFC 7638 thumbprint of the client's public key.
    jwk_thumbprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

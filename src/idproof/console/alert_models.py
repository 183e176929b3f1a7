"""Acknowledgements of security alerts in the console (the alerts are audit events)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from idproof.db.base import Base, UTCDateTime


class SecurityAlertAck(Base):
    __tablename__ = "security_alert_acks"

    # The `security.alert` audit event's public id (aev_...).
    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(40))
    # The operator's note; kept here, not in the append-only audit log, so it can be erased.
    note: Mapped[str] = mapped_column(String(500))
    acknowledged_at: Mapped[datetime] = mapped_column(UTCDateTime())

"""Builds the signals service and subscribes it to the session lifecycle."""

from __future__ import annotations

from idproof.audit.service import AuditService
from idproof.core.clock import Clock
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.signals.datasets import Datasets
from idproof.signals.face_store import FaceStore
from idproof.signals.rules import Limits
from idproof.signals.service import SignalService
from idproof.signals.sessions import on_session_event
from idproof.verification.service import SessionService


def build_signals(db: Database, audit: AuditService, protection: DataProtection,
                  sessions: SessionService, hash_key: bytes, clock: Clock,
                  limits: Limits | None = None) -> SignalService:
    signals = SignalService(db, audit, Datasets(db, audit, clock),
                            FaceStore(db, audit, protection, clock), hash_key, clock, limits)
    sessions.on_event(lambda s, row, event_type: on_session_event(signals, s, row, event_type))
    return signals

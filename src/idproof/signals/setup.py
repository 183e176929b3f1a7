"""Builds the signals service and subscribes it to the session lifecycle."""

from __future__ import annotations

from datetime import timedelta

from idproof.audit.service import AuditService
from idproof.config import SignalsSettings
from idproof.core.clock import Clock
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.signals.datasets import Datasets
from idproof.signals.face_store import FaceStore
from idproof.signals.rules import Limits
from idproof.signals.service import SignalService
from idproof.signals.sessions import on_session_event
from idproof.verification.service import SessionService


def limits_of(cfg: SignalsSettings) -> Limits:
    return Limits(window=timedelta(hours=cfg.window_hours), max_per_ip=cfg.max_per_ip,
                  max_per_device=cfg.max_per_device, max_per_document=cfg.max_per_document,
                  max_per_face=cfg.max_per_face, device_identities=cfg.device_identities)


def build_signals(db: Database, audit: AuditService, protection: DataProtection,
                  sessions: SessionService, hash_key: bytes, clock: Clock,
                  cfg: SignalsSettings | None = None) -> SignalService:
    cfg = cfg or SignalsSettings()
    faces = FaceStore(db, audit, protection, clock, threshold=cfg.face_distance)
    signals = SignalService(db, audit, Datasets(db, audit, clock), faces, hash_key, clock,
                            limits_of(cfg))
    sessions.on_event(lambda s, row, event_type: on_session_event(signals, s, row, event_type))
    return signals

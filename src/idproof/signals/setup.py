"""Builds the signals service (bootstrap subscribes it to the session lifecycle)."""

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


def limits_of(cfg: SignalsSettings) -> Limits:
    return Limits(window=timedelta(hours=cfg.window_hours), max_per_ip=cfg.max_per_ip,
                  max_per_device=cfg.max_per_device, max_per_document=cfg.max_per_document,
                  max_per_face=cfg.max_per_face, device_identities=cfg.device_identities)


def build_signals(db: Database, audit: AuditService, protection: DataProtection,
                  hash_key: bytes, clock: Clock,
                  cfg: SignalsSettings | None = None) -> SignalService:
    cfg = cfg or SignalsSettings()
    faces = FaceStore(db, audit, protection, clock, threshold=cfg.face_distance)
    return SignalService(db, audit, Datasets(db, audit, clock), faces, hash_key, clock,
                         limits_of(cfg))

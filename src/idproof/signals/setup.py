"""Builds the signals service (bootstrap subscribes it to the session lifecycle)."""

from __future__ import annotations

from idproof.audit.service import AuditService
from idproof.core.clock import Clock
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.signals.datasets import Datasets
from idproof.signals.face_store import FaceStore
from idproof.signals.rules import Limits
from idproof.signals.service import SignalService


def build_signals(db: Database, audit: AuditService, protection: DataProtection,
                  hash_key: bytes, clock: Clock,
                  limits: Limits | None = None) -> SignalService:
    return SignalService(db, audit, Datasets(db, audit, clock),
                         FaceStore(db, audit, protection, clock), hash_key, clock, limits)

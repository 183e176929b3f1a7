"""The audit services wired from the settings: in the container, and alone in the sequencer's
process, which needs them and nothing else (a third of the start-up CPU and memory)."""

from __future__ import annotations

from idproof.audit.log import AuditLog, default_origin
from idproof.audit.sequencer import Sequencer
from idproof.audit.service import AuditService
from idproof.config import Settings
from idproof.core.clock import Clock, SystemClock
from idproof.datadir import derive, load_server_secret
from idproof.db.engine import Database, open_database


def build_audit(settings: Settings, db: Database, secret: bytes, clock: Clock
                ) -> tuple[AuditService, AuditLog, Sequencer]:
    """The recording service, the log (checkpoints, proofs) and a sequencer not yet started."""
    audit = AuditService(db, clock)
    audit_log = AuditLog(db, derive(secret, "audit-log-seal"), clock=clock, audit=audit,
                         origin=settings.audit.origin or default_origin(settings.public_url),
                         every_events=settings.audit.checkpoint_every_events,
                         every_seconds=settings.audit.checkpoint_every_seconds)
    # Started by `idproof serve` and `idproof worker` (start_background_services); until then,
    # and in one-shot commands and tests, each commit integrates its own events inline.
    sequencer = Sequencer(audit, db, interval=settings.audit.sequencer_interval_seconds,
                          batch=settings.audit.sequencer_batch)
    return audit, audit_log, sequencer


def sequencer_only(settings: Settings) -> tuple[Database, Sequencer]:
    """A sequencer for a process that does nothing else (`idproof audit sequencer`): it signs
    a checkpoint as the tree grows, as the container's does. The data dir is already set up
    (the database migrated, the log's key made) by whoever serves the API."""
    db = open_database(settings.sqlalchemy_url())
    audit, audit_log, sequencer = build_audit(settings, db, load_server_secret(settings),
                                              SystemClock())
    audit.appended.subscribe(audit_log.after_append)
    return db, sequencer

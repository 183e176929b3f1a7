"""Recording audit events into the append-only table."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.models import AuditEventRow
from idproof.core.clock import Clock, SystemClock
from idproof.db.engine import Database


class AuditService:
    """Writes audit events; `record` in its own unit of work, `record_in` inside the caller's."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()

    def _row(self, event: AuditEvent) -> AuditEventRow:
        return AuditEventRow(
            occurred_at=event.occurred_at or self._clock.now(),
            actor_type=event.actor_type,
            actor_id=event.actor_id,
            tenant_id=event.tenant_id,
            action=event.action,
            target_type=event.target_type,
            target_id=event.target_id,
            outcome=event.outcome,
            ip=event.ip,
            request_id=event.request_id,
            purpose=event.purpose,
            details=dict(event.details),
        )

    def record_in(self, session: Session, event: AuditEvent) -> None:
        """Record as part of the caller's transaction: the event commits with the change."""
        session.add(self._row(event))

    def record(self, event: AuditEvent) -> None:
        """Record on its own (e.g. a refused request, where nothing else is written)."""
        with self._db.session() as s:
            self.record_in(s, event)

    def record_many(self, events: Iterable[AuditEvent]) -> None:
        with self._db.session() as s:
            for e in events:
                self.record_in(s, e)

    def list(self, *, tenant_id: str | None = None, action: str | None = None,
             limit: int = 100) -> list[AuditEventRow]:
        stmt = select(AuditEventRow).order_by(AuditEventRow.id)
        if tenant_id is not None:
            stmt = stmt.where(AuditEventRow.tenant_id == tenant_id)
        if action is not None:
            stmt = stmt.where(AuditEventRow.action == action)
        with self._db.session() as s:
            return list(s.scalars(stmt.limit(limit)))

"""Appending audit events to the log: a dense index, a Merkle leaf and the nodes each completes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC
from typing import Any

import structlog
from sqlalchemy import event as sa_event
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, SessionTransaction

from idproof.audit.events import AuditEvent
from idproof.audit.leaf import event_leaf_hash, leaf_fields, normalize_details
from idproof.audit.merkle import CompactRange, Node, nodes_to_store_on_append
from idproof.audit.models import AuditEventRow, AuditNode
from idproof.audit.store import DbNodeReader, advance_head
from idproof.core.clock import Clock, SystemClock
from idproof.db.engine import Database

log = structlog.get_logger("idproof.audit")

# Session.info keys: events waiting for the commit, and the tree size that commit reached.
_PENDING = "idproof.audit.pending"
_APPENDED = "idproof.audit.appended"

_EVENTS = AuditEventRow.__table__
_NODES = AuditNode.__table__
# Column limits are checked here so both backends accept or refuse the same events (SQLite
# would store an over-long string that PostgreSQL refuses).
_STRING_LIMITS = {c.name: c.type.length for c in _EVENTS.columns
                  if getattr(c.type, "length", None) and c.name != "leaf_hash"}
_REQUIRED = ("actor_type", "action", "outcome")


class AuditService:
    """Records audit events as leaves of the RFC 6962 log.

    `record_in` queues an event on the caller's session; it is appended when that session
    commits, in the same transaction, so the event exists exactly when the change it describes
    does. The append itself (lock the tree head, number the events, store the nodes they
    complete, bump the head) runs last, just before COMMIT: the lock that serializes appenders
    across processes is held for a few small statements, never across the caller's own work,
    and it is the last lock the transaction takes, so it does not deadlock against the caller's
    row locks.
    """

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()
        self._listeners: list[Callable[[int], None]] = []

    def on_appended(self, listener: Callable[[int], None]) -> None:
        """Call `listener(tree_size)` after each commit that appended events (errors logged)."""
        self._listeners.append(listener)

    # -- recording ------------------------------------------------------------------------------

    def values(self, event: AuditEvent) -> dict[str, Any]:
        """The column values of an event (without its index), the leaf hash included."""
        occurred_at = (event.occurred_at or self._clock.now()).astimezone(UTC)
        row: dict[str, Any] = {
            "occurred_at": occurred_at,
            "actor_type": event.actor_type, "actor_id": event.actor_id,
            "tenant_id": event.tenant_id, "action": event.action,
            "target_type": event.target_type, "target_id": event.target_id,
            "outcome": event.outcome, "ip": event.ip, "request_id": event.request_id,
            "purpose": event.purpose, "details": normalize_details(dict(event.details)),
        }
        for name, limit in _STRING_LIMITS.items():
            value = row[name]
            if value is None and name not in _REQUIRED:
                continue
            if not isinstance(value, str) or (not value and name in _REQUIRED):
                raise TypeError(f"audit field {name} must be a non-empty string")
            if len(value) > limit:
                raise ValueError(f"audit field {name} is longer than {limit} characters")
        row["leaf_hash"] = event_leaf_hash(leaf_fields(_Fields(row)))
        return row

    def record_in(self, session: Session, event: AuditEvent) -> None:
        """Record as part of the caller's transaction: the event commits with the change."""
        self._queue(session, [self.values(event)])

    def record(self, event: AuditEvent) -> None:
        """Record on its own (e.g. a refused request, where nothing else is written)."""
        with self._db.session() as s:
            self.record_in(s, event)

    def record_many(self, events: Iterable[AuditEvent]) -> None:
        """Record several events in one transaction and one append."""
        rows = [self.values(e) for e in events]
        with self._db.session() as s:
            self._queue(s, rows)

    def list(self, *, tenant_id: str | None = None, action: str | None = None,
             limit: int = 100) -> list[AuditEventRow]:
        stmt = select(AuditEventRow).order_by(AuditEventRow.idx)
        if tenant_id is not None:
            stmt = stmt.where(AuditEventRow.tenant_id == tenant_id)
        if action is not None:
            stmt = stmt.where(AuditEventRow.action == action)
        with self._db.read() as s:
            return list(s.scalars(stmt.limit(limit)))

    # -- appending at commit --------------------------------------------------------------------

    def _queue(self, session: Session, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        pending: list[tuple[SessionTransaction | None, dict[str, Any]]] | None = (
            session.info.get(_PENDING))
        if pending is None:
            pending = session.info[_PENDING] = []
            if not session.info.get(self._hooked_key()):
                session.info[self._hooked_key()] = True
                sa_event.listen(session, "before_commit", self._before_commit)
                sa_event.listen(session, "after_commit", self._after_commit)
                sa_event.listen(session, "after_soft_rollback", self._after_rollback)
        # Tag each event with the savepoint it was recorded in (None outside any), so that
        # rolling back a savepoint drops exactly the events recorded inside it.
        savepoint = session.get_nested_transaction()
        pending.extend((savepoint, row) for row in rows)

    def _hooked_key(self) -> str:
        return f"idproof.audit.hooked.{id(self)}"

    def _before_commit(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # releasing a savepoint: append with the outermost commit
        pending = session.info.pop(_PENDING, None)
        if pending:
            # SQLAlchemy flushes the caller's changes after this hook: do it first, so that the
            # head lock really is the last lock this transaction takes.
            session.flush()
            session.info[_APPENDED] = self.append(session, [row for _, row in pending])

    def _after_commit(self, session: Session) -> None:
        size = session.info.pop(_APPENDED, None)
        if size is None:
            return
        for listener in self._listeners:
            try:
                listener(size)
            except Exception as exc:  # the events are committed; a listener cannot undo that
                log.error("audit_listener_failed", error_type=type(exc).__name__)

    def _after_rollback(self, session: Session, previous: SessionTransaction) -> None:
        if not previous.nested:  # the whole transaction: nothing it recorded happened
            session.info.pop(_PENDING, None)
            session.info.pop(_APPENDED, None)
            return
        pending = session.info.get(_PENDING)

        def inside(tx: SessionTransaction | None) -> bool:
            while tx is not None:
                if tx is previous:
                    return True
                tx = tx.parent
            return False

        if pending:
            pending[:] = [(tx, row) for tx, row in pending if not inside(tx)]

    def append(self, session: Session, rows: list[dict[str, Any]]) -> int:
        """Append prepared rows (from `values`) under the head lock; returns the new tree size.

        A few statements whatever the batch size: bump the head, read the stored right edge,
        insert the events, insert the nodes they complete.
        """
        # Core statements on the session's connection (same transaction): none of this is ORM
        # state, and the ORM execute path would cost more than the statements themselves.
        conn = session.connection()
        size = advance_head(conn, len(rows))
        reader = DbNodeReader(conn)
        nodes: list[Node] = []
        if len(rows) == 1:
            # Only the left siblings this leaf completes: none for an even index.
            nodes = nodes_to_store_on_append(size, rows[0]["leaf_hash"], reader)
        else:
            edge = CompactRange.from_store(size, reader)
            for row in rows:
                nodes.extend(edge.append(row["leaf_hash"]))
        conn.execute(insert(_EVENTS), [{**row, "idx": size + i} for i, row in enumerate(rows)])
        conn.execute(insert(_NODES), [{"level": n.level, "idx": n.index, "hash": n.hash}
                                      for n in nodes])
        return size + len(rows)


class _Fields:
    """Attribute view of a column-value dict, for `leaf_fields`."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

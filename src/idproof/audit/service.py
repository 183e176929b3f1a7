"""Recording audit events (one INSERT into the pending queue) and integrating them into the log.

Recording and integrating are apart, as in transparency logs (Trillian, Rekor): the caller's
transaction appends its events to `audit_pending`; `integrate` (run by the sequencer, or right
after the commit in inline mode) moves pending events into `audit_events` in batches, giving
each a dense index, storing the Merkle nodes they complete and advancing the tree head, then
deletes them from the queue, all in one transaction.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import UTC
from functools import partial
from typing import Any, cast

import structlog
from sqlalchemy import Connection, Table, func, insert, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

from idproof.audit.events import AuditEvent
from idproof.audit.integrate import (
    ANY_PENDING,
    HEAD_SIZE,
    LOCK_HEAD,
    Prepared,
    next_batch,
    nodes_for,
    prepare_batch,
    store_nodes,
    write_batch,
)
from idproof.audit.leaf import (
    LEAF_FIELDS,
    event_leaf_hash,
    leaf_fields_from_values,
    normalize_details,
)
from idproof.audit.merkle import CompactRange
from idproof.audit.models import AuditEventRow, AuditPending
from idproof.audit.store import LogStateError, advance_head
from idproof.core.channel import Channel
from idproof.core.clock import Clock, SystemClock
from idproof.core.ids import new_sortable_id
from idproof.db.after_commit import after_commit
from idproof.db.async_batch import AsyncBatcher
from idproof.db.engine import Database

log = structlog.get_logger("idproof.audit")

# Session.info keys: events waiting for the commit, and whether that commit recorded any.
_PENDING = "idproof.audit.pending"

_EVENTS = cast(Table, AuditEventRow.__table__)
_QUEUE = cast(Table, AuditPending.__table__)
DEFAULT_BATCH = 1000
# Column limits are checked here so both backends accept or refuse the same events (SQLite
# would store an over-long string that PostgreSQL refuses).
_STRING_LIMITS: dict[str, int] = {
    c.name: length for c in _EVENTS.columns
    if (length := getattr(c.type, "length", None)) and c.name not in ("leaf_hash", "event_id")}
_REQUIRED = ("actor_type", "action", "outcome")


class AuditService:
    """Records audit events and integrates them as leaves of the RFC 6962 log.

    `record_in` queues an event on the caller's session; it is written to `audit_pending` when
    that session commits, in the same transaction, so the event exists (durably, with its
    `event_id`) exactly when the change it describes does. No tree lock is taken on that path.

    Inline mode (the default, and what one-shot commands and tests use): right after each
    commit that recorded events, this process integrates the queue itself. A process running
    a background `Sequencer` turns inline mode off; its requests then only INSERT, and the
    sequencer integrates every ~50 ms or 1,000 events.
    """

    def __init__(self, db: Database, clock: Clock | None = None, *, inline: bool = True,
                 recorded: Channel[builtins.list[dict[str, Any]]] | None = None,
                 appended: Channel[int] | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()
        # The column values of events once committed (the security detectors watch them).
        self.recorded = recorded or Channel[builtins.list[dict[str, Any]]]("audit.recorded")
        # The tree size after each integration that added events (the log checkpoints).
        self.appended = appended or Channel[int]("audit.appended")
        self.inline = inline
        self._batcher = AsyncBatcher(self._write_recorded, max_inflight=db.write_concurrency)
        # The tree's right edge as this process last committed it (a prepared batch carries
        # the edge after it, kept once that commits): saves reading it for each batch.
        self._edge: CompactRange | None = None

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
        row["leaf_hash"] = event_leaf_hash(leaf_fields_from_values([row[n] for n in LEAF_FIELDS]))
        row["event_id"] = new_sortable_id("aev")
        return row

    def record_in(self, session: Session, event: AuditEvent) -> str:
        """Record as part of the caller's transaction: the event commits with the change.
        Returns the event's id (`GET /v1/audit/events/{id}`)."""
        row = self.values(event)
        self._queue(session, [row])
        return str(row["event_id"])

    def record(self, event: AuditEvent) -> str:
        """Record on its own (e.g. a refused request, where nothing else is written): one
        INSERT in a transaction of its own, without an ORM session."""
        row = self.values(event)
        self._db.insert_grouped(_QUEUE, [row])  # committed on return; commits shared
        self._recorded([row])
        return str(row["event_id"])

    async def record_async(self, event: AuditEvent) -> str:
        """`record` for a coroutine: returns once the event is committed to the queue, its
        INSERT batched with other coroutines' (one thread call and one commit per batch)."""
        row = self.values(event)
        await self._batcher.write([row])
        return str(row["event_id"])

    @property
    def async_writes(self) -> int:
        """Thread calls `record_async` has made (each one commit for a batch of events)."""
        return self._batcher.calls

    def _write_recorded(self, rows: builtins.list[dict[str, Any]]) -> None:
        self._db.insert_grouped(_QUEUE, rows)
        self._recorded(rows)

    def record_many(self, events: Iterable[AuditEvent]) -> list[str]:
        """Record several events in one transaction."""
        rows = [self.values(e) for e in events]
        if rows:
            self._db.insert_grouped(_QUEUE, rows)
            self._recorded(rows)
        return [str(r["event_id"]) for r in rows]

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

    def _queue(self, session: Session, rows: builtins.list[dict[str, Any]]) -> None:
        if not rows:
            return
        pending: builtins.list[tuple[SessionTransaction | None, dict[str, Any]]] | None = (
            session.info.get(_PENDING))
        if pending is None:
            pending = session.info[_PENDING] = []
            if not session.info.get(self._hooked_key()):
                session.info[self._hooked_key()] = True
                sa_event.listen(session, "before_commit", self._before_commit)
                sa_event.listen(session, "after_soft_rollback", self._after_rollback)
        # Tag each event with the savepoint it was recorded in (None outside any), so that
        # rolling back a savepoint drops exactly the events recorded inside it.
        savepoint = session.get_nested_transaction()
        pending.extend((savepoint, row) for row in rows)

    def _hooked_key(self) -> str:
        return f"idproof.audit.hooked.{id(self)}"

    def _before_commit(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # releasing a savepoint: write with the outermost commit
        pending = session.info.pop(_PENDING, None)
        if pending:
            # Core, on the session's connection (same transaction): one INSERT for them all.
            rows = [row for _, row in pending]
            session.connection().execute(insert(_QUEUE), rows)
            after_commit(session, partial(self._recorded, rows))

    def _recorded(self, rows: builtins.list[dict[str, Any]]) -> None:
        """Events were committed to the queue: tell the listeners, and integrate them now in
        inline mode."""
        self.recorded.publish(rows)  # a failing detector never fails the request
        if not self.inline:
            return
        try:
            self.integrate_all()
        except Exception as exc:  # they are safe in the queue; the next integration takes them
            log.error("audit_integration_failed", error_type=type(exc).__name__)

    def _after_rollback(self, session: Session, previous: SessionTransaction) -> None:
        if not previous.nested:  # the whole transaction: nothing it recorded happened
            session.info.pop(_PENDING, None)
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

    # -- integrating ----------------------------------------------------------------------------

    def integrate(self, max_batch: int = DEFAULT_BATCH) -> int:
        """Move up to `max_batch` pending events into the tree, oldest first, in one
        transaction; returns how many. Safe from any process at any time: the tree head lock
        serializes integrations, and a crash before COMMIT leaves the queue as it was."""
        with self._db.read() as s:
            read = s.connection()
            if read.scalar(ANY_PENDING) is None:
                return 0  # idle: no write lock taken (on SQLite it would stall the writers)
            # Read and hash the batch before taking the write lock, which on SQLite stops
            # every writer of every process: the lock is then held for the writes alone.
            seen: int | None = read.scalar(HEAD_SIZE)
            early = self._prepare(read, seen, max_batch) if seen is not None else None
        with self._db.write() as conn:
            # The head lock (FOR UPDATE on PostgreSQL; SQLite's write lock is already held).
            # While the head has not moved, no integration ran since the read, so the batch is
            # still queued (only an integration deletes from the queue, and it moves the head);
            # on SQLite no event committed since can fall inside its id range either.
            size: int | None = conn.scalar(LOCK_HEAD)
            if size is None:
                raise LogStateError("the audit tree head row is missing: run `idproof db upgrade`")
            # The early batch while the head has not moved; else the queue as it is now.
            prepared = (early if early is not None and early.size == size
                        else self._prepare(conn, size, max_batch))
            if prepared is None:
                return 0
            new_size = self._write_batch(conn, prepared)
        self._edge = prepared.edge  # committed
        self._notify(new_size)
        return new_size - size

    def _prepare(self, conn: Connection, size: int, max_batch: int) -> Prepared | None:
        """The next batch read and hashed for a head at `size`; None if the queue is empty."""
        batch = next_batch(conn, max_batch)
        return prepare_batch(conn, size, batch, self._edge) if batch else None

    def _write_batch(self, conn: Connection, prepared: Prepared) -> int:
        """Inside the integration transaction (a seam for the crash tests)."""
        return write_batch(conn, prepared)

    def integrate_all(self, max_batch: int = DEFAULT_BATCH) -> int:
        """Integrate until the queue is empty (as seen now); returns how many."""
        total = 0
        while True:
            n = self.integrate(max_batch)
            total += n
            if n < max_batch:
                return total

    def pending_count(self) -> int:
        with self._db.read() as s:
            return int(s.scalar(select(func.count()).select_from(_QUEUE)) or 0)

    def _notify(self, size: int) -> None:
        self.appended.publish(size)  # the events are committed; a listener cannot undo that

    def _append_rows(self, conn: Connection, size: int, rows: builtins.list[dict[str, Any]]) -> int:
        nodes = nodes_for(conn, size, [row["leaf_hash"] for row in rows])
        conn.execute(insert(_EVENTS), [{**row, "idx": size + i} for i, row in enumerate(rows)])
        store_nodes(conn, nodes)
        return size + len(rows)

    def append(self, session: Session, rows: builtins.list[dict[str, Any]]) -> int:
        """Append prepared rows (from `values`) straight into the tree, bypassing the queue,
        under the head lock; returns the new tree size. (Integration does the same for queued
        events; this is for tools and tests that build a log directly.)
        """
        # Core statements on the session's connection (same transaction): none of this is ORM
        # state, and the ORM execute path would cost more than the statements themselves.
        conn = session.connection()
        size = advance_head(conn, len(rows))
        return self._append_rows(conn, size, rows)

"""The audit log as a transparency log: signed checkpoints, proofs, reading and verifying."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from idproof.audit.checkpoint import NoteVerifier, parse_verifier_key, sign_checkpoint
from idproof.audit.leaf import leaf_fields
from idproof.audit.log_key import LogKey
from idproof.audit.log_results import (
    ConsistencyProof,
    InclusionProof,
    LogIntegrityError,
    StoredCheckpoint,
    VerifyReport,
    b64,
    default_origin,
    event_json,
)
from idproof.audit.log_verify import verify_log
from idproof.audit.merkle import consistency_proof, inclusion_proof, root_at
from idproof.audit.models import AuditCheckpoint, AuditEventRow, AuditPending
from idproof.audit.service import AuditService
from idproof.audit.store import DbNodeReader, head_size
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import NotFound, ValidationFailed
from idproof.db.engine import Database

# Re-exported: callers read the log's results and its origin helper from here.
__all__ = ["AuditLog", "ConsistencyProof", "InclusionProof", "LogIntegrityError",
           "StoredCheckpoint", "VerifyReport", "default_origin", "event_json"]

MAX_PAGE = 500


class AuditLog:
    """Checkpoints (every N events, every M seconds, on demand), proofs and reads of the log,
    signed with the log's key (`LogKey`)."""

    def __init__(self, db: Database, seal_key: bytes, *, origin: str, clock: Clock | None = None,
                 audit: AuditService | None = None, every_events: int = 1000,
                 every_seconds: float = 60.0) -> None:
        self._db = db
        self.origin = origin
        self._clock = clock or SystemClock()
        self._key = LogKey(db, seal_key, origin=origin, clock=self._clock, audit=audit)
        self.every_events = every_events
        self.every_seconds = every_seconds
        self._checkpointed = -1  # latest checkpoint size this process knows of (-1: unknown)

    # -- the key ------------------------------------------------------------------------------

    def ensure_key(self) -> str:
        """Create the log's signing key if there is none; returns its verifier key string."""
        return self._key.ensure()

    def public_key(self) -> str:
        """The verifier key (`<name>+<key id>+<base64 key>`) to publish out of band."""
        return self._key.ensure()

    def verifiers(self) -> list[NoteVerifier]:
        """Every key the log ever signed with (from the database)."""
        return self._key.verifiers()

    # -- checkpoints --------------------------------------------------------------------------

    def size(self) -> int:
        with self._db.read() as s:
            return head_size(s)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self._db.read() as s:
            row = s.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1))
        return _stored(row) if row is not None else None

    def checkpoint(self, *, min_new: int = 0) -> StoredCheckpoint:
        """Sign the current tree head now (or return the checkpoint already made at its size).

        With `min_new`, only when at least that many events are not covered yet (another
        replica may just have signed), else the latest checkpoint is returned.
        """
        signer = self._key.current_signer()
        with self._db.session() as s:
            # Under the head lock the size cannot move and every node below it is committed.
            size = head_size(s, lock=True)
            latest = s.scalar(select(AuditCheckpoint)
                              .order_by(AuditCheckpoint.size.desc()).limit(1))
            if latest is not None and latest.size > size:
                raise LogIntegrityError(
                    f"the tree has {size} events but a checkpoint signed {latest.size}: "
                    "the log was truncated; run `idproof audit verify`")
            if latest is not None and (latest.size == size or size - latest.size < min_new):
                self._checkpointed = latest.size
                return _stored(latest)
            root = root_at(size, DbNodeReader(s))
            note = sign_checkpoint(self.origin, size, root, signer.name, signer.private)
            row = AuditCheckpoint(size=size, root=root, note=note, created_at=self._clock.now())
            s.add(row)
        self._checkpointed = size
        return _stored(row)

    def after_append(self, size: int) -> None:
        """Listener for appends: checkpoint once `every_events` events are not yet covered."""
        if self.every_events <= 0:
            return
        if self._checkpointed < 0:
            latest = self.latest_checkpoint()
            self._checkpointed = latest.size if latest is not None else 0
        if size - self._checkpointed >= self.every_events:
            self.checkpoint(min_new=self.every_events)

    def maybe_checkpoint(self, now: datetime) -> StoredCheckpoint | None:
        """Checkpoint when events are not yet covered and the last one is `every_seconds` old."""
        if self.every_seconds <= 0:
            return None
        latest = self.latest_checkpoint()
        size = self.size()
        if latest is not None and latest.size >= size:
            return None
        if size == 0:
            return None
        if latest is not None and (now - latest.created_at).total_seconds() < self.every_seconds:
            return None
        return self.checkpoint()

    # -- proofs -------------------------------------------------------------------------------

    def inclusion(self, index: int, tree_size: int | None, *,
                  tenant_id: str | None) -> InclusionProof:
        """Inclusion proof of event `index`; only for the tenant's own events unless tenant_id is
        None (operators). Without `tree_size`, for the latest checkpoint."""
        with self._db.read() as s:
            row = s.execute(select(AuditEventRow.tenant_id, AuditEventRow.leaf_hash)
                            .where(AuditEventRow.idx == index)).first()
            # Another tenant's event, a system event and no event at all look the same.
            if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                raise NotFound("no such audit event", code="event_not_found")
            size = head_size(s)
            if tree_size is None:
                tree_size = s.scalar(select(func.max(AuditCheckpoint.size)))
                if tree_size is None or tree_size <= index:
                    raise NotFound("no checkpoint covers this event yet; retry later or pass "
                                   "tree_size", code="not_yet_checkpointed")
            _check_size(tree_size, size)
            if tree_size <= index:
                raise ValidationFailed(f"tree_size must be above index {index}",
                                       code="index_not_in_tree")
            return InclusionProof(index, tree_size, row.leaf_hash,
                                  inclusion_proof(index, tree_size, DbNodeReader(s)))

    def consistency(self, first: int, second: int | None) -> ConsistencyProof:
        """Consistency proof between tree sizes 0 < first <= second (default: latest checkpoint)."""
        with self._db.read() as s:
            size = head_size(s)
            if second is None:
                second = s.scalar(select(func.max(AuditCheckpoint.size)))
                if second is None:
                    raise NotFound("no checkpoint yet", code="no_checkpoint")
            _check_size(second, size)
            if first < 1 or first > second:
                raise ValidationFailed("need 0 < first <= second", code="invalid_tree_sizes")
            return ConsistencyProof(first, second, consistency_proof(first, second,
                                                                     DbNodeReader(s)))

    # -- reading ------------------------------------------------------------------------------

    def events(self, *, tenant_id: str | None, after: int | None = None, limit: int = 100,
               action: str | None = None, since: datetime | None = None,
               until: datetime | None = None) -> list[dict[str, Any]]:
        """A page of events in index order, after index `after`; tenant_id None: all events."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be 1..{MAX_PAGE}", code="invalid_limit")
        stmt = _filtered(after=after, action=action, since=since, until=until)
        if tenant_id is not None:
            stmt = stmt.where(AuditEventRow.tenant_id == tenant_id)
        with self._db.read() as s:
            return [event_json(r) for r in s.scalars(stmt.limit(limit))]

    def event(self, event_id: str, *, tenant_id: str | None) -> dict[str, Any]:
        """One event by its id: `status` "pending" (recorded, not yet in the tree: no index,
        no proof yet) or "integrated" (with its index). tenant_id None: any event."""
        with self._db.read() as s:
            # The queue first: the sequencer moves an event out of it and into the log in one
            # transaction, so a miss here and then in the log means there is no such event.
            pending = s.scalar(select(AuditPending).where(AuditPending.event_id == event_id))
            if pending is not None:
                if tenant_id is not None and pending.tenant_id != tenant_id:
                    raise NotFound("no such audit event", code="event_not_found")
                return {**leaf_fields(pending), "id": event_id, "status": "pending",
                        "index": None, "leaf_hash": b64(pending.leaf_hash)}
            row = s.scalar(select(AuditEventRow).where(AuditEventRow.event_id == event_id))
        if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
            raise NotFound("no such audit event", code="event_not_found")
        return {**event_json(row), "id": event_id, "status": "integrated"}

    def export(self, *, since: datetime | None = None, after: int | None = None,
               batch: int = 2000) -> Iterator[dict[str, Any]]:
        """Every event (all tenants, system events too) in index order, streamed in batches."""
        cursor = after
        while True:
            stmt = _filtered(after=cursor, action=None, since=since, until=None).limit(batch)
            with self._db.read() as s:
                rows = [event_json(r) for r in s.scalars(stmt)]
            yield from rows
            if len(rows) < batch:
                return
            cursor = rows[-1]["index"]

    # -- verification -------------------------------------------------------------------------


    def verify(self, *, witness: str | None = None, key: str | None = None,
               progress: Callable[[int], None] | None = None,
               on_size: Callable[[int], None] | None = None) -> VerifyReport:
        """Recompute the whole tree from the stored events and check everything against it.

        `key` pins the verifier key (as published) instead of trusting the keys stored in the
        database; `witness` is a checkpoint kept elsewhere, checked like the stored ones.
        """
        problems: list[str] = []
        if key is not None:
            verifiers = [parse_verifier_key(key)]
        else:
            verifiers = self.verifiers()
            if not verifiers:
                problems.append("the log has no signing key, so no checkpoint can be checked")
        return verify_log(self._db, verifiers, problems, witness=witness, progress=progress,
                          on_size=on_size)


# -- helpers ------------------------------------------------------------------------------------

def _check_size(tree_size: int, size: int) -> None:
    if tree_size > size:
        raise ValidationFailed(f"tree_size is beyond the log ({size} events)",
                               code="tree_size_beyond_log")


def _stored(row: AuditCheckpoint) -> StoredCheckpoint:
    return StoredCheckpoint(row.size, row.root, row.note, row.created_at)


def _filtered(*, after: int | None, action: str | None, since: datetime | None,
              until: datetime | None) -> Any:
    stmt = select(AuditEventRow).order_by(AuditEventRow.idx)
    if after is not None:
        stmt = stmt.where(AuditEventRow.idx > after)
    if action is not None:
        stmt = stmt.where(AuditEventRow.action == action)
    if since is not None:
        stmt = stmt.where(AuditEventRow.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEventRow.occurred_at < until)
    return stmt


"""The audit log as a transparency log: its key, signed checkpoints, proofs, reading, verifying."""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, func, select

from idproof.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteVerifier,
    open_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    verifier_key,
)
from idproof.audit.checkpoint import key_id as note_key_id
from idproof.audit.events import AuditEvent
from idproof.audit.leaf import LEAF_FIELDS, leaf_fields, leaf_fields_from_values
from idproof.audit.merkle import (
    NodeStoreError,
    ProofError,
    consistency_proof,
    inclusion_proof,
    root_at,
    verify_consistency,
)
from idproof.audit.models import (
    AuditCheckpoint,
    AuditEventRow,
    AuditLogKey,
    AuditNode,
    AuditPending,
    AuditTreeHead,
)
from idproof.audit.service import AuditService
from idproof.audit.store import HEAD_ID, DbNodeReader, head_size
from idproof.audit.verify import EventRecord, Finding, SignedRoot, StreamResult, verify_events
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import NotFound, ValidationFailed
from idproof.db.engine import Database

log = structlog.get_logger("idproof.audit")

MAX_PAGE = 500


def default_origin(public_url: str) -> str:
    """`<host[:port]>/idproof/audit`: the checkpoint origin line when none is configured."""
    parts = urlsplit(public_url)
    host = (parts.hostname or "localhost").lower()
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{host}/idproof/audit"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class LogIntegrityError(RuntimeError):
    """The stored log contradicts itself (e.g. the tree shrank below a signed checkpoint)."""


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    proof: list[bytes]

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "tree_size": self.tree_size,
                "leaf_hash": b64(self.leaf_hash), "proof": [b64(h) for h in self.proof]}


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first: int
    second: int
    proof: list[bytes]

    def as_json(self) -> dict[str, Any]:
        return {"first": self.first, "second": self.second,
                "proof": [b64(h) for h in self.proof]}


@dataclass(slots=True)
class VerifyReport:
    """Outcome of `AuditLog.verify`: the first bad index (if any) and every other problem."""

    events: int
    root: bytes
    checkpoints_checked: int  # stored checkpoints whose signature verified
    finding: Finding | None = None
    problems: list[str] = field(default_factory=list)  # problems not tied to an event index

    @property
    def ok(self) -> bool:
        return self.finding is None and not self.problems


def event_json(row: Any) -> dict[str, Any]:
    """An event as exported and served: its leaf fields plus `index` and `leaf_hash`."""
    return {**leaf_fields(row), "index": row.idx, "leaf_hash": b64(row.leaf_hash)}


class _LogSigner:
    def __init__(self, name: str, private: Ed25519PrivateKey) -> None:
        self.name = name
        self.private = private
        self.verifier = verifier_key(name, private.public_key())


class AuditLog:
    """Checkpoints (every N events, every M seconds, on demand), proofs and reads of the log.

    The signing key is an Ed25519 key kept in the database with its private half sealed
    (AES-256-GCM) under a key derived from the server secret, like the token signing keys: every
    replica signs with the same key, and a database copy alone cannot sign.
    """

    def __init__(self, db: Database, seal_key: bytes, *, origin: str, clock: Clock | None = None,
                 audit: AuditService | None = None, every_events: int = 1000,
                 every_seconds: float = 60.0) -> None:
        self._db = db
        self._audit = audit
        self._aead = AESGCM(seal_key)
        self.origin = origin
        self._clock = clock or SystemClock()
        self.every_events = every_events
        self.every_seconds = every_seconds
        self._signer: _LogSigner | None = None
        # Reentrant: creating the key appends an audit event, whose listener may checkpoint.
        self._lock = threading.RLock()
        self._checkpointed = -1  # latest checkpoint size this process knows of (-1: unknown)

    # -- the key ------------------------------------------------------------------------------

    def _seal(self, kid: str, raw: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, raw, f"audit-log-key:{kid}".encode())

    def _unseal(self, kid: str, blob: bytes) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], f"audit-log-key:{kid}".encode())

    def ensure_key(self) -> str:
        """Create the log's signing key if there is none; returns its verifier key string."""
        return self._current_signer().verifier

    def _current_signer(self) -> _LogSigner:
        signer = self._signer
        if signer is not None:
            return signer
        with self._lock:
            if self._signer is None:
                self._signer = self._load_or_create_key()
            return self._signer

    def _load_or_create_key(self) -> _LogSigner:
        with self._db.session() as s:
            # The head lock serializes key creation too: two processes starting at once must
            # not each create a key.
            head_size(s, lock=True)
            row = s.scalar(select(AuditLogKey).order_by(AuditLogKey.created_at.desc()).limit(1))
            if row is None:
                private = Ed25519PrivateKey.generate()
                name = self.origin
                kid = note_key_id(name, private.public_key()).hex()
                row = AuditLogKey(key_id=kid, name=name,
                                  public_key=private.public_key().public_bytes_raw(),
                                  sealed_private=self._seal(kid, private.private_bytes_raw()),
                                  created_at=self._clock.now())
                s.add(row)
                if self._audit is not None:
                    self._audit.record_in(s, AuditEvent(
                        action="key.audit_log_created", target_type="audit_log_key",
                        target_id=kid))
                return _LogSigner(name, private)
        private = Ed25519PrivateKey.from_private_bytes(self._unseal(row.key_id, row.sealed_private))
        if private.public_key().public_bytes_raw() != row.public_key:
            raise LogIntegrityError("the stored log key's halves do not match")
        return _LogSigner(row.name, private)

    def public_key(self) -> str:
        """The verifier key (`<name>+<key id>+<base64 key>`) to publish out of band."""
        return self.ensure_key()

    def verifiers(self) -> list[NoteVerifier]:
        """Every key the log ever signed with (from the database)."""
        with self._db.read() as s:
            rows = list(s.execute(select(AuditLogKey.name, AuditLogKey.public_key)))
        out = []
        for name, public in rows:
            with suppress(ValueError, CheckpointError):
                out.append(parse_verifier_key(
                    verifier_key(name, Ed25519PublicKey.from_public_bytes(public))))
        return out

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
        signer = self._current_signer()
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
        # One snapshot for the whole pass: a concurrent append must not look like tampering.
        with self._snapshot() as conn:
            head = conn.execute(select(AuditTreeHead.size)
                                .where(AuditTreeHead.id == HEAD_ID)).scalar()
            if head is None:
                return VerifyReport(0, b"", 0, problems=["the tree head row is missing"])
            if on_size is not None:
                on_size(head)
            signed = self._signed_roots(conn, verifiers, witness, problems)
            levels = conn.execute(select(func.max(AuditNode.level))).scalar()
            result: StreamResult = verify_events(
                _event_records(conn), head_size=head,
                stored_nodes=lambda level: _node_stream(conn, level),
                node_levels=(levels + 1) if levels is not None else 0,
                signed=signed, progress=progress)
            if result.finding is None:
                stored = sorted((r for r in result.matched if not r.witness),
                                key=lambda r: r.size)
                result.finding = _check_chain(stored, DbNodeReader(conn))
        return VerifyReport(result.size, result.root, sum(not r.witness for r in signed),
                            finding=result.finding, problems=problems)

    def _snapshot(self) -> _Snapshot:
        conn = self._db.engine.connect()
        if self._db.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        else:
            conn = conn.execution_options(idproof_readonly=True)
        return _Snapshot(conn)

    def _signed_roots(self, conn: Connection, verifiers: list[NoteVerifier],
                      witness: str | None, problems: list[str]) -> list[SignedRoot]:
        out: list[SignedRoot] = []
        rows = conn.execute(select(AuditCheckpoint.size, AuditCheckpoint.root,
                                   AuditCheckpoint.note).order_by(AuditCheckpoint.size))
        for size, root, note in rows:
            parsed = _open(note, verifiers)
            if parsed is None:
                problems.append(f"the stored checkpoint at size {size} is not validly signed by "
                                "the log key")
                continue
            if parsed.size != size or parsed.root != root:
                problems.append(f"the stored checkpoint at size {size}: its columns differ from "
                                "its signed note")
            out.append(SignedRoot(f"stored checkpoint at size {parsed.size}", parsed.size,
                                  parsed.root))
        if witness is not None:
            parsed = _open(witness, verifiers)
            if parsed is None:
                problems.append("the witness checkpoint is not validly signed by the log key")
            else:
                out.append(SignedRoot(f"witness checkpoint at size {parsed.size}", parsed.size,
                                      parsed.root, witness=True))
        return out


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


def _open(note: str, verifiers: list[NoteVerifier]) -> Checkpoint | None:
    for v in verifiers:
        try:
            return open_checkpoint(note, v)
        except CheckpointError:
            continue
    return None


class _Snapshot:
    """A read transaction held open for a whole verification pass."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def __enter__(self) -> Connection:
        self._conn.begin()
        return self._conn

    def __exit__(self, *exc: object) -> None:
        try:
            self._conn.rollback()
        finally:
            self._conn.close()


_LEAF_COLUMNS = tuple(getattr(AuditEventRow, name) for name in LEAF_FIELDS)


def _event_records(conn: Connection) -> Iterator[EventRecord]:
    result = conn.execution_options(yield_per=5000).execute(
        select(AuditEventRow.idx, AuditEventRow.leaf_hash, *_LEAF_COLUMNS)
        .order_by(AuditEventRow.idx))
    for row in result:
        yield row[0], leaf_fields_from_values(row[2:]), row[1]


def _node_stream(conn: Connection, level: int) -> Iterator[tuple[int, bytes]]:
    result = conn.execution_options(yield_per=5000).execute(
        select(AuditNode.idx, AuditNode.hash).where(AuditNode.level == level)
        .order_by(AuditNode.idx))
    yield from result  # Rows unpack like (idx, hash) tuples


def _check_chain(stored: list[SignedRoot], reader: DbNodeReader) -> Finding | None:
    """Each stored checkpoint must be consistent with the one before (RFC 6962 proofs)."""
    previous: SignedRoot | None = None
    for cp in stored:
        if previous is not None and 0 < previous.size < cp.size:
            try:
                proof = consistency_proof(previous.size, cp.size, reader)
                verify_consistency(previous.size, cp.size, proof, previous.root, cp.root)
            except (ProofError, NodeStoreError) as exc:
                return Finding(previous.size, f"the {cp.label} is not consistent with the "
                                              f"{previous.label} ({exc})", cp.size)
        previous = cp
    return None


# -- the periodic checkpoint task ----------------------------------------------------------------


@asynccontextmanager
async def periodic_checkpoints(audit_log: AuditLog, clock: Clock,
                               tick: float = 5.0) -> AsyncIterator[None]:
    """Run `maybe_checkpoint` in the background while the context is open (the app lifespan).

    Every replica runs one; checkpointing takes the head lock and skips sizes already signed,
    so they never duplicate work.
    """
    if audit_log.every_seconds <= 0:
        yield
        return
    interval = min(tick, audit_log.every_seconds)
    stop = asyncio.Event()

    async def loop() -> None:
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
            try:
                await asyncio.to_thread(audit_log.maybe_checkpoint, clock.now())
            except Exception as exc:  # a database hiccup must not end the task
                log.error("audit_checkpoint_failed", error_type=type(exc).__name__)

    task = asyncio.create_task(loop(), name="idproof-audit-checkpoints")
    try:
        yield
    finally:
        # Not cancel(): a checkpoint being signed in its thread finishes before the
        # database is closed under it.
        stop.set()
        await task

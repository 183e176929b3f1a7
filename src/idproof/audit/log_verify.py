"""Verify the whole audit log: recompute the tree from the stored events in one snapshot and
check every signed checkpoint, and the chain of checkpoints, against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import Connection, func, select

from idproof.audit.checkpoint import Checkpoint, CheckpointError, NoteVerifier, open_checkpoint
from idproof.audit.leaf import LEAF_FIELDS, leaf_fields_from_values
from idproof.audit.log_results import VerifyReport
from idproof.audit.merkle import NodeStoreError, ProofError, consistency_proof, verify_consistency
from idproof.audit.models import AuditCheckpoint, AuditEventRow, AuditNode, AuditTreeHead
from idproof.audit.store import HEAD_ID, DbNodeReader
from idproof.audit.verify import EventRecord, Finding, SignedRoot, StreamResult, verify_events
from idproof.db.engine import Database


def verify_log(db: Database, verifiers: list[NoteVerifier], problems: list[str], *,
               witness: str | None = None, progress: Callable[[int], None] | None = None,
               on_size: Callable[[int], None] | None = None) -> VerifyReport:
    """Check the log against `verifiers` (and a `witness` checkpoint kept elsewhere);
    `problems` holds what the caller already found and gets what this pass finds."""
    # One snapshot for the whole pass: a concurrent append must not look like tampering.
    with _snapshot(db) as conn:
        head = conn.execute(select(AuditTreeHead.size)
                            .where(AuditTreeHead.id == HEAD_ID)).scalar()
        if head is None:
            return VerifyReport(0, b"", 0, problems=["the tree head row is missing"])
        if on_size is not None:
            on_size(head)
        signed = _signed_roots(conn, verifiers, witness, problems)
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


def _snapshot(db: Database) -> _Snapshot:
    conn = db.engine.connect()
    if db.dialect == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    else:
        conn = conn.execution_options(idproof_readonly=True)
    return _Snapshot(conn)


def _signed_roots(conn: Connection, verifiers: list[NoteVerifier],
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

"""The audit pages' reads: filtered events, checkpoints, and proofs checked on the server."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from idproof.audit.checkpoint import CheckpointError, NoteVerifier, open_checkpoint
from idproof.audit.leaf import event_leaf_hash, leaf_fields
from idproof.audit.log import AuditLog, event_json
from idproof.audit.merkle import (
    NodeStoreError,
    ProofError,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from idproof.audit.models import AuditCheckpoint, AuditEventRow
from idproof.audit.store import DbNodeReader
from idproof.core.errors import IdproofError, NotFound, ValidationFailed

PAGE_SIZE = 50
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:")


@dataclass(frozen=True, slots=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    subject: str = ""      # a target id: a session, client, endpoint or a vault token
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("actor", "action", "subject"):
            value = getattr(self, name)
            if len(value) > 64 or not set(value) <= _TOKEN_CHARS:
                raise ValidationFailed(f"{name} is an id or a code", code="invalid_filter")


def event_query(tenants: Collection[str] | None, f: AuditFilters,
                before: int | None = None) -> Select[Any]:
    """Newest first; tenants None: every event (system ones too), else only those tenants'."""
    stmt = select(AuditEventRow).order_by(AuditEventRow.idx.desc())
    if tenants is not None:
        stmt = stmt.where(AuditEventRow.tenant_id.in_(sorted(tenants)))
    if f.actor:
        stmt = stmt.where(AuditEventRow.actor_id == f.actor)
    if f.action:
        stmt = stmt.where(AuditEventRow.action == f.action)
    if f.subject:
        stmt = stmt.where(AuditEventRow.target_id == f.subject)
    if f.start is not None:
        stmt = stmt.where(AuditEventRow.occurred_at >= f.start)
    if f.end is not None:
        stmt = stmt.where(AuditEventRow.occurred_at < f.end)
    if before is not None:
        stmt = stmt.where(AuditEventRow.idx < before)
    return stmt


def event_page(s: Session, stmt: Select[Any]
               ) -> tuple[list[dict[str, Any]], int | None]:
    rows = list(s.scalars(stmt.limit(PAGE_SIZE + 1)))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return [event_json(r) for r in rows], (rows[-1].idx if more and rows else None)


def export_lines(s: Session, stmt: Select[Any], limit: int) -> Iterator[dict[
        str, Any]]:
    """The filtered events oldest first, as exported and verifiable one by one."""
    ordered = stmt.order_by(None).order_by(AuditEventRow.idx).limit(limit)
    for row in s.scalars(ordered):
        yield event_json(row)


@dataclass(frozen=True, slots=True)
class ProofCheck:
    """The outcome of a proof checked on the server against a signed checkpoint."""

    verified: bool
    text: str
    tree_size: int | None = None
    root: str | None = None
    proof_length: int = 0


def _opened(note: str, verifiers: list[NoteVerifier]) -> Any:
    for v in verifiers:
        try:
            return open_checkpoint(note, v)
        except CheckpointError:
            continue
    return None


def check_inclusion(log: AuditLog, s: Session, index: int,
                    tenants: Collection[str] | None) -> ProofCheck:
    """Recompute the event's leaf from its stored fields, check the latest checkpoint's
    signature, and check the inclusion proof leads from that leaf to the signed root."""
    row = s.scalar(select(AuditEventRow).where(AuditEventRow.idx == index))
    if row is None or (tenants is not None and row.tenant_id not in tenants):
        raise ValidationFailed("no such event", code="event_not_found", status=404)
    leaf = event_leaf_hash(leaf_fields(row))
    if not hmac.compare_digest(leaf, row.leaf_hash):
        return ProofCheck(False, "The event's fields do not match its stored leaf hash.")
    cp = s.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1))
    if cp is None or cp.size <= index:
        return ProofCheck(False, "No signed checkpoint covers this event yet; try again "
                                 "in a minute.")
    opened = _opened(cp.note, log.verifiers())
    if opened is None:
        return ProofCheck(False, "The latest checkpoint's signature does not verify.",
                          cp.size)
    try:
        proof = log.inclusion(index, opened.size, tenant_id=None)
        verify_inclusion(leaf, index, opened.size, proof.proof, opened.root)
    except (ProofError, IdproofError) as exc:
        return ProofCheck(False, f"The inclusion proof fails: {exc}", opened.size)
    return ProofCheck(True, f"Verified: event {index} is in the signed tree of "
                            f"{opened.size} events.", opened.size,
                      base64.b64encode(opened.root).decode(), len(proof.proof))


def check_consistency(log: AuditLog, s: Session, first: int, second: int) -> ProofCheck:
    """Both checkpoints' signatures, and the proof that the second tree extends the first."""
    notes = {c.size: c.note for c in s.scalars(
        select(AuditCheckpoint).where(AuditCheckpoint.size.in_([first, second])))}
    if first not in notes or second not in notes or not 0 < first <= second:
        raise ValidationFailed("choose two checkpoints, the older first",
                               code="invalid_tree_sizes")
    verifiers = log.verifiers()
    a, b = _opened(notes[first], verifiers), _opened(notes[second], verifiers)
    if a is None or b is None:
        return ProofCheck(False, "A checkpoint's signature does not verify.", second)
    try:
        proof = log.consistency(first, second)
        verify_consistency(first, second, proof.proof, a.root, b.root)
    except (ProofError, IdproofError) as exc:
        return ProofCheck(False, f"The consistency proof fails: {exc}", second)
    return ProofCheck(True, f"Verified: the tree of {second} events extends the tree of "
                            f"{first} events (both checkpoints signed).", second,
                      base64.b64encode(b.root).decode(), len(proof.proof))


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    size: int
    root: str
    created_at: datetime
    signed: bool
    note: str


def checkpoints(log: AuditLog, s: Session, limit: int = 100) -> list[CheckpointRow]:
    """The latest checkpoints, newest first, each with its signature checked."""
    verifiers = log.verifiers()
    rows = s.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc())
                     .limit(limit))
    return [CheckpointRow(r.size, base64.b64encode(r.root).decode(), r.created_at,
                          _opened(r.note, verifiers) is not None, r.note) for r in rows]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def browser_proofs(log: AuditLog, s: Session, indexes: Sequence[int],
                   tenants: Collection[str] | None) -> dict[str, Any]:
    """What the audit page's script needs to check the shown events itself, with WebCrypto.

    The latest checkpoint goes as the signed note it is stored as (the script reads the tree
    size and root from the signed text only, never from a field beside it), with every verifier
    key the log has signed with. Each event covered by it gets its leaf hash recomputed here
    from its stored fields (so an edited row fails in the browser) and its inclusion proof.
    Hashes and indexes only: no event field, so no personal data.
    """
    wanted = sorted(set(indexes), reverse=True)
    rows = {r.idx: r for r in s.scalars(select(AuditEventRow)
                                         .where(AuditEventRow.idx.in_(wanted)))}
    if any(i not in rows or (tenants is not None and rows[i].tenant_id not in tenants)
           for i in wanted):
        # Another tenant's event, a system event and no event at all look the same.
        raise NotFound("no such audit event", code="event_not_found")
    cp = s.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1))
    size = cp.size if cp is not None else 0
    reader = DbNodeReader(s)
    events: list[dict[str, Any]] = []
    for i in (i for i in wanted if i < size):
        try:
            path = inclusion_proof(i, size, reader)
        except NodeStoreError:
            continue  # the page says no proof was served: the store is behind or damaged
        events.append({"index": i, "leaf_hash": _b64(event_leaf_hash(leaf_fields(rows[i]))),
                       "proof": [_b64(h) for h in path]})
    return {"checkpoint": cp.note if cp is not None else None,
            "keys": [str(v) for v in log.verifiers()], "events": events,
            "pending": [i for i in wanted if i >= size]}

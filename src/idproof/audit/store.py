"""Database side of the Merkle tree: reading stored nodes and the tree head, inside a session."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import cast

from sqlalchemy import (
    BigInteger,
    Connection,
    LargeBinary,
    SmallInteger,
    Table,
    TextualSelect,
    column,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from idproof.audit.merkle import NodeId
from idproof.audit.models import AuditNode, AuditTreeHead

HEAD_ID = 1


class LogStateError(RuntimeError):
    """The log's tables are not in a state the service can work from (missing head row...)."""


class DbNodeReader:
    """`merkle.NodeReader` over the audit_nodes table: one query per batch of node ids."""

    def __init__(self, session: Session | Connection) -> None:
        self._session = session

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        if not ids:
            return {}
        params: dict[str, int] = {}
        for k, (level, idx) in enumerate(ids):
            params[f"l{k}"] = level
            params[f"i{k}"] = idx
        rows = self._session.execute(_nodes_query(len(ids)), params)
        return {(level, idx): h for level, idx, h in rows}


@functools.lru_cache(maxsize=256)
def _nodes_query(count: int) -> TextualSelect:
    """SELECT of `count` nodes by key, built once per count (a proof needs up to ~2 log2 n).

    An OR of (level, idx) pairs: both backends answer it from the primary key, where a
    row-value IN list makes SQLite scan the whole table. Plain text because building the same
    expression tree for every proof cost more than running the query.
    """
    terms = " OR ".join(f"(level = :l{k} AND idx = :i{k})" for k in range(count))
    table = AuditNode.__tablename__
    return text(f"SELECT level, idx, hash FROM {table} WHERE {terms}").columns(  # noqa: S608
        column("level", SmallInteger), column("idx", BigInteger), column("hash", LargeBinary))


def head_size(session: Session, *, lock: bool = False) -> int:
    """The number of leaves; with `lock`, hold the append lock until the transaction ends.

    PostgreSQL: `SELECT ... FOR UPDATE` on the one head row serializes appenders across
    processes. SQLite: writers already hold the database write lock from BEGIN IMMEDIATE, and
    SQLAlchemy leaves FOR UPDATE out there.
    """
    stmt = select(AuditTreeHead.size).where(AuditTreeHead.id == HEAD_ID)
    if lock:
        stmt = stmt.with_for_update()
    size = session.scalar(stmt)
    if size is None:
        raise LogStateError("the audit tree head row is missing: run `idproof db upgrade`")
    return size


def advance_head(session: Session | Connection, count: int) -> int:
    """Take the append lock and grow the tree by `count`; returns the size before (the index
    of the first new leaf).

    One statement: the UPDATE takes the head row's lock (on PostgreSQL exactly the lock
    `SELECT ... FOR UPDATE` would; a concurrent appender waits, then re-reads the committed
    size) and RETURNING hands back the new size. On SQLite the transaction already holds the
    database write lock from BEGIN IMMEDIATE. Either way the lock lasts until COMMIT, so the
    indexes below the new size belong to this transaction alone.
    """
    head = cast(Table, AuditTreeHead.__table__)  # Core: nothing in the session to synchronize
    new_size: int | None = session.scalar(
        update(head).where(head.c.id == HEAD_ID).values(size=head.c.size + count)
        .returning(head.c.size))
    if new_size is None:
        raise LogStateError("the audit tree head row is missing: run `idproof db upgrade`")
    return new_size - count

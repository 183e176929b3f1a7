"""The statements of one integration: pending events numbered into the log, nodes, head, queue.

Run inside the integration transaction, under the tree head lock (FOR UPDATE on PostgreSQL;
on SQLite the transaction holds the database write lock from BEGIN IMMEDIATE). Each batch is
a handful of statements whatever its size: the events are copied inside the database, the
nodes go in as one executemany (SQLite) or one INSERT from arrays (PostgreSQL), and the batch
is named by its id range on SQLite and by an id array on PostgreSQL, never by a list of
bound parameters (compiling a 1,000-item IN list cost more than the statement).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from idproof.audit.merkle import CompactRange, Node, nodes_to_store_on_append
from idproof.audit.models import AuditEventRow, AuditNode, AuditPending, AuditTreeHead
from idproof.audit.store import HEAD_ID, DbNodeReader
from idproof.db.multi_row import insert_rows

_EVENTS = cast(Table, AuditEventRow.__table__)
_QUEUE = cast(Table, AuditPending.__table__)
_HEAD = cast(Table, AuditTreeHead.__table__)
_QUEUE_COLUMNS = [c for c in _QUEUE.columns if c.name != "id"]

HEAD_SIZE = select(_HEAD.c.size).where(_HEAD.c.id == HEAD_ID)
LOCK_HEAD = HEAD_SIZE.with_for_update()
NEXT_BATCH = (select(_QUEUE.c.id, _QUEUE.c.leaf_hash).order_by(_QUEUE.c.id)
              .limit(bindparam("n", type_=Integer)))
# SQLite: the same batch as one row (a JSON array of [id, hex leaf hash]). Each row fetched
# is one step, and Python's sqlite3 gives the GIL up around every step: with the event loop
# busy, each step could wait for it a switch interval (5 ms), the write lock held all along.
_BATCH_ROWS = NEXT_BATCH.subquery()
NEXT_BATCH_ONE_ROW = select(func.json_group_array(func.json_array(
    _BATCH_ROWS.c.id, func.hex(_BATCH_ROWS.c.leaf_hash))))
# Whether anything is pending, read without the write lock (an idle sequencer takes none).
ANY_PENDING = select(_QUEUE.c.id).limit(1)

# SQLite: the batch is the first n queued rows by id, read in this same write transaction,
# and no other writer can commit before it ends: every row in [lo, hi] is in the batch.
_IN_RANGE = _QUEUE.c.id.between(bindparam("lo", type_=BigInteger),
                                bindparam("hi", type_=BigInteger))
# PostgreSQL: ids come from a sequence when rows are inserted, not when they commit, so a row
# inside [lo, hi] may commit after the batch was read (and before the copy, under READ
# COMMITTED): the batch is named by its exact ids.
_IN_ARRAY = _QUEUE.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger)))


def _copy(where: ColumnElement[bool]) -> Any:
    """INSERT ... SELECT of the batch into the log, numbered from `size` in id order (the
    order its leaf hashes were appended to the tree)."""
    numbered = (bindparam("size", type_=BigInteger)
                + func.row_number().over(order_by=_QUEUE.c.id) - 1).label("idx")
    return insert(_EVENTS).from_select(["idx", *(c.name for c in _QUEUE_COLUMNS)],
                                       select(numbered, *_QUEUE_COLUMNS).where(where))


_STATEMENTS = {
    "sqlite": (_copy(_IN_RANGE), delete(_QUEUE).where(_IN_RANGE)),
    "postgresql": (_copy(_IN_ARRAY), delete(_QUEUE).where(_IN_ARRAY)),
}
_NODES_SQL = {
    "sqlite": "INSERT INTO audit_nodes (level, idx, hash)",
    # %b: psycopg sends the arrays in binary (a quarter of the CPU of text-escaped bytea).
    "postgresql": ("INSERT INTO audit_nodes (level, idx, hash) SELECT * FROM "
                   "unnest(%b::smallint[], %b::bigint[], %b::bytea[])"),
}
assert AuditNode.__tablename__ == "audit_nodes"


def next_batch(conn: Connection, n: int) -> list[tuple[int, bytes]]:
    """The first `n` queued events' (id, leaf hash), oldest first."""
    if conn.dialect.name != "sqlite":
        return [(r[0], r[1]) for r in conn.execute(NEXT_BATCH, {"n": n})]
    # The aggregate's order is not promised: sorted here by id.
    raw = conn.execute(NEXT_BATCH_ONE_ROW, {"n": n}).scalar_one()
    return sorted((int(i), bytes.fromhex(h)) for i, h in json.loads(raw or "[]"))


@dataclass
class Prepared:
    """A batch read and hashed, ready to be written: its events' ids, the nodes they complete
    and the tree's right edge after them. Valid only while the head is still at `size`."""

    size: int
    ids: list[Any]
    nodes: list[Node]
    edge: CompactRange


def prepare_batch(conn: Connection, size: int, batch: Sequence[tuple[Any, ...]],
                  known: CompactRange | None) -> Prepared:
    """Number the batch's (id, leaf hash) rows from `size` and compute the nodes they complete
    (`known`: the edge at the last committed size, if this process has it)."""
    edge = edge_at(conn, size, known)
    nodes: list[Node] = []
    for _, leaf in batch:
        nodes.extend(edge.append(leaf))
    return Prepared(size, [r[0] for r in batch], nodes, edge)


def write_batch(conn: Connection, prepared: Prepared) -> int:
    """Copy the prepared events into the log, store their nodes, advance the head and empty
    them from the queue; returns the new size. Under the head lock, with the head at
    `prepared.size`."""
    ids = prepared.ids
    dialect = conn.dialect.name
    copy, drop = _STATEMENTS[dialect]
    where = ({"ids": ids} if dialect == "postgresql" else {"lo": ids[0], "hi": ids[-1]})
    conn.execute(copy, {"size": prepared.size, **where})
    store_nodes(conn, prepared.nodes)
    new_size = prepared.size + len(ids)
    conn.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(size=new_size))
    # Exactly the events just integrated (a trigger refuses any other deletion).
    conn.execute(drop, where)
    return new_size


def edge_at(conn: Connection, size: int, known: CompactRange | None) -> CompactRange:
    """The right edge of the tree at `size`: a copy of `known` when it is at that size (the
    tree is append-only, so a committed size always has the same edge), else read."""
    if known is not None and known.size == size:
        return CompactRange(size, known.hashes)
    return CompactRange.from_store(size, DbNodeReader(conn))


def nodes_for(conn: Connection, size: int, leaves: list[bytes]) -> list[Node]:
    """The stored nodes that appending `leaves` at `size` completes."""
    reader = DbNodeReader(conn)
    if len(leaves) == 1:
        # Only the left siblings this leaf completes: none for an even index.
        return nodes_to_store_on_append(size, leaves[0], reader)
    edge = CompactRange.from_store(size, reader)
    nodes: list[Node] = []
    for leaf in leaves:
        nodes.extend(edge.append(leaf))
    return nodes


def store_nodes(conn: Connection, nodes: Sequence[Node]) -> None:
    """INSERT the nodes in one driver call (no per-row work in SQLAlchemy)."""
    if not nodes:
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_NODES_SQL["postgresql"], ([n.level for n in nodes],
                                                        [n.index for n in nodes],
                                                        [n.hash for n in nodes]))
    else:  # multi-row VALUES: one step (one GIL hand-over) per chunk, not one per node
        insert_rows(conn.exec_driver_sql, _NODES_SQL["sqlite"],
                    [(n.level, n.index, n.hash) for n in nodes])

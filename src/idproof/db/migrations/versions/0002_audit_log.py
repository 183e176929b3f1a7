"""audit log: Merkle leaves on audit_events, subtree nodes, tree head, checkpoints, log keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:00:00.000000

Every log table is append-only through triggers on SQLite and PostgreSQL; the one-row tree head
is the exception (appenders lock and bump it), and its size may only grow. Events that already
exist are numbered in id order and their leaves and nodes computed, so an upgraded database is a
valid log from the start.
"""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from alembic import op

# --- frozen: what this migration computes, as it was when it was written ----------------------
# A migration must give the same result whenever it runs, so it carries its own copy of the
# leaf format and the Merkle append instead of importing the live audit package (which may
# change). These are RFC 6962 (SHA-256, 0x00 leaf / 0x01 node prefixes) over the canonical
# JSON of the twelve leaf fields, exactly as audit/leaf.py and audit/merkle.py define them.
_LEAF_FIELDS = ("actor_type", "actor_id", "tenant_id", "action", "target_type", "target_id",
                "outcome", "ip", "request_id", "purpose", "occurred_at", "details")


def _canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def normalize_details(details: dict[str, Any]) -> dict[str, Any]:
    normalized = json.loads(_canonical_json(details))
    if not isinstance(normalized, dict):
        raise TypeError("audit details must be a JSON object")
    return normalized


def _format_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def leaf_fields(event: Any) -> dict[str, Any]:
    fields = {name: getattr(event, name) for name in _LEAF_FIELDS}
    fields["occurred_at"] = _format_time(fields["occurred_at"])
    return fields


def event_leaf_hash(fields: dict[str, Any]) -> bytes:
    return hashlib.sha256(b"\x00" + _canonical_json(fields)).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class _Node(NamedTuple):  # not a dataclass: Alembic loads this file outside sys.modules
    level: int
    idx: int
    hash: bytes


class CompactRange:
    """The right edge of the tree: appending a leaf returns the nodes it completes."""

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []

    def append(self, leaf: bytes) -> list[_Node]:
        index = self._size
        out = [_Node(0, index, leaf)]
        acc, i, level = leaf, index, 0
        while i & 1:
            acc = _node_hash(self._stack.pop(), acc)
            i >>= 1
            level += 1
            out.append(_Node(level, i, acc))
        self._stack.append(acc)
        self._size = index + 1
        return out

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

LOG_TABLES = ("audit_events", "audit_nodes", "audit_checkpoints", "audit_log_keys")


def upgrade() -> None:
    # 0001's triggers would refuse the backfill below; they come back, on every table, at the end.
    _drop_append_only('audit_events')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idx', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=True))

    op.create_table('audit_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_audit_nodes'))
    )
    op.create_table('audit_tree_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_audit_tree_head_single_row')),
    sa.CheckConstraint('size >= 0', name=op.f('ck_audit_tree_head_size_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_tree_head'))
    )
    op.create_table('audit_checkpoints',
    sa.Column('size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('size', name=op.f('pk_audit_checkpoints'))
    )
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_checkpoints_created_at'), ['created_at'], unique=False)

    op.create_table('audit_log_keys',
    sa.Column('key_id', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('public_key', sa.LargeBinary(length=32), nullable=False),
    sa.Column('sealed_private', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_audit_log_keys'))
    )

    size = _backfill()
    op.execute(sa.text("INSERT INTO audit_tree_head (id, size) VALUES (1, :size)")
               .bindparams(size=size))

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('idx', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('leaf_hash', existing_type=sa.LargeBinary(length=32),
                              nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_events_idx'), ['idx'])
        batch_op.create_index('ix_audit_events_tenant_id_idx', ['tenant_id', 'idx'], unique=False)

    for table in LOG_TABLES:
        _append_only(table)
    _grow_only_head()


def downgrade() -> None:
    _drop_grow_only_head()
    for table in LOG_TABLES:
        _drop_append_only(table)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_tenant_id_idx')
        batch_op.drop_constraint(batch_op.f('uq_audit_events_idx'), type_='unique')
        batch_op.drop_column('leaf_hash')
        batch_op.drop_column('idx')
    op.drop_table('audit_log_keys')
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_checkpoints_created_at'))
    op.drop_table('audit_checkpoints')
    op.drop_table('audit_tree_head')
    op.drop_table('audit_nodes')
    _append_only('audit_events')  # as 0001 left it


# --- backfill -------------------------------------------------------------------------------

_events = sa.table(
    'audit_events',
    sa.column('id', sa.BigInteger()), sa.column('idx', sa.BigInteger()),
    sa.column('leaf_hash', sa.LargeBinary()),
    sa.column('occurred_at', sa.DateTime(timezone=True)),
    sa.column('actor_type', sa.String()), sa.column('actor_id', sa.String()),
    sa.column('tenant_id', sa.String()), sa.column('action', sa.String()),
    sa.column('target_type', sa.String()), sa.column('target_id', sa.String()),
    sa.column('outcome', sa.String()), sa.column('ip', sa.String()),
    sa.column('request_id', sa.String()), sa.column('purpose', sa.String()),
    sa.column('details', sa.JSON()),
)
_nodes = sa.table('audit_nodes', sa.column('level', sa.SmallInteger()),
                  sa.column('idx', sa.BigInteger()), sa.column('hash', sa.LargeBinary()))


class _Row:
    id: int
    details: dict[str, Any]
    occurred_at: datetime | None

    def __init__(self, mapping: sa.RowMapping) -> None:
        self.__dict__.update(mapping)
        self.details = normalize_details(self.details or {})
        # Times were stored in UTC; SQLite hands them back without a zone.
        if self.occurred_at is not None and self.occurred_at.tzinfo is None:
            self.occurred_at = self.occurred_at.replace(tzinfo=UTC)


def _backfill() -> int:
    """Number pre-existing events in id order and store their leaves and nodes."""
    bind = op.get_bind()
    rows = [_Row(r) for r in bind.execute(sa.select(_events).order_by(_events.c.id)).mappings()]
    tree = CompactRange()
    nodes: list[dict[str, object]] = []
    for index, row in enumerate(rows):
        leaf = event_leaf_hash(leaf_fields(row))
        # The details column is rewritten in its normalized form, the one the leaf hashes.
        bind.execute(sa.update(_events).where(_events.c.id == row.id)
                     .values(idx=index, leaf_hash=leaf, details=row.details))
        nodes.extend({"level": n.level, "idx": n.idx, "hash": n.hash}
                     for n in tree.append(leaf))
    if nodes:
        bind.execute(sa.insert(_nodes), nodes)
    return len(rows)


# --- triggers -------------------------------------------------------------------------------


def _append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE OR REPLACE FUNCTION idproof_refuse_change() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'append-only table %: % refused', TG_TABLE_NAME, TG_OP;
            END $$ LANGUAGE plpgsql""")
        op.execute(f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                       FOR EACH ROW EXECUTE FUNCTION idproof_refuse_change()""")
        op.execute(f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                       FOR EACH STATEMENT EXECUTE FUNCTION idproof_refuse_change()""")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
                           BEGIN SELECT RAISE(ABORT, 'append-only table {table}'); END""")


def _drop_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


def _grow_only_head() -> None:
    """The tree head may be updated (that is how appends advance it) but never shrink or go."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE OR REPLACE FUNCTION idproof_tree_head_grows() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND NEW.size >= OLD.size AND NEW.id = OLD.id THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'audit tree head: % refused (it may only grow)', TG_OP;
            END $$ LANGUAGE plpgsql""")
        op.execute("""CREATE TRIGGER audit_tree_head_grows BEFORE UPDATE OR DELETE
                      ON audit_tree_head FOR EACH ROW EXECUTE FUNCTION idproof_tree_head_grows()""")
        op.execute("""CREATE TRIGGER audit_tree_head_no_truncate BEFORE TRUNCATE ON audit_tree_head
                      FOR EACH STATEMENT EXECUTE FUNCTION idproof_refuse_change()""")
    else:
        op.execute("""CREATE TRIGGER audit_tree_head_no_shrink BEFORE UPDATE ON audit_tree_head
                      WHEN NEW.size < OLD.size OR NEW.id != OLD.id
                      BEGIN SELECT RAISE(ABORT, 'audit tree head may only grow'); END""")
        op.execute("""CREATE TRIGGER audit_tree_head_no_delete BEFORE DELETE ON audit_tree_head
                      BEGIN SELECT RAISE(ABORT, 'audit tree head may only grow'); END""")


def _drop_grow_only_head() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_tree_head_grows ON audit_tree_head")
        op.execute("DROP TRIGGER IF EXISTS audit_tree_head_no_truncate ON audit_tree_head")
        op.execute("DROP FUNCTION IF EXISTS idproof_tree_head_grows()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_tree_head_no_shrink")
        op.execute("DROP TRIGGER IF EXISTS audit_tree_head_no_delete")

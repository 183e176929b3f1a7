"""audit: the pending queue (audit_pending) and events' public ids (audit_events.event_id)

Requests append their events to audit_pending; the sequencer integrates them into the Merkle
tree in batches (audit/sequencer.py). Pending rows may never be updated, and may be deleted
only once the event is in audit_events.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 00:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('audit_events', sa.Column('event_id', sa.String(length=40), nullable=True))
    op.create_index('ix_audit_events_event_id', 'audit_events', ['event_id'], unique=True)
    op.create_table('audit_pending',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_type', sa.String(length=32), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('tenant_id', sa.String(length=40), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=32), nullable=True),
    sa.Column('target_id', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('purpose', sa.String(length=200), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_pending')),
    sa.UniqueConstraint('event_id', name=op.f('uq_audit_pending_event_id'))
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE OR REPLACE FUNCTION idproof_pending_leaves() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' AND EXISTS (
                        SELECT 1 FROM audit_events WHERE event_id = OLD.event_id) THEN
                    RETURN OLD;
                END IF;
                RAISE EXCEPTION 'audit_pending: % refused (only integrated events leave)',
                    TG_OP;
            END $$ LANGUAGE plpgsql""")
        op.execute("""CREATE TRIGGER audit_pending_append_only BEFORE UPDATE OR DELETE
                      ON audit_pending FOR EACH ROW EXECUTE FUNCTION idproof_pending_leaves()""")
        op.execute("""CREATE TRIGGER audit_pending_no_truncate BEFORE TRUNCATE ON audit_pending
                      FOR EACH STATEMENT EXECUTE FUNCTION idproof_refuse_change()""")
    else:
        op.execute("""CREATE TRIGGER audit_pending_no_update BEFORE UPDATE ON audit_pending
                      BEGIN SELECT RAISE(ABORT, 'append-only table audit_pending'); END""")
        op.execute("""CREATE TRIGGER audit_pending_no_delete BEFORE DELETE ON audit_pending
                      WHEN NOT EXISTS (SELECT 1 FROM audit_events
                                       WHERE event_id = OLD.event_id)
                      BEGIN SELECT RAISE(ABORT, 'audit_pending: only integrated events leave');
                      END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_pending_append_only ON audit_pending")
        op.execute("DROP TRIGGER IF EXISTS audit_pending_no_truncate ON audit_pending")
        op.execute("DROP FUNCTION IF EXISTS idproof_pending_leaves()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_pending_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_pending_no_delete")
    op.drop_table('audit_pending')
    op.drop_index('ix_audit_events_event_id', table_name='audit_events')
    with op.batch_alter_table('audit_events', schema=None,
                              recreate='never') as batch_op:
        batch_op.drop_column('event_id')

"""session_reasons (a decision's reason codes, indexed) and the console's daily rollups

Revision ID: 0023
Revises: 0019
Create Date: 2026-11-29 07:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0019'
branch_labels = None
depends_on = None

# The reason codes already in decisions, copied once (the JSON array expanded by the database).
BACKFILL = {
    "sqlite": """
        INSERT INTO session_reasons (session_id, reason, tenant_id, created_at)
        SELECT DISTINCT v.id, substr(j.value, 1, 64), v.tenant_id, v.created_at
        FROM verification_sessions v, json_each(v.decision, '$.reasons') j
        WHERE v.decision IS NOT NULL AND json_type(v.decision, '$.reasons') = 'array'""",
    "postgresql": """
        INSERT INTO session_reasons (session_id, reason, tenant_id, created_at)
        SELECT DISTINCT v.id, left(j.value, 64), v.tenant_id, v.created_at
        FROM verification_sessions v,
             json_array_elements_text(v.decision -> 'reasons') j(value)
        WHERE v.decision IS NOT NULL AND json_typeof(v.decision -> 'reasons') = 'array'""",
}


def upgrade() -> None:
    op.create_table('session_reasons',
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'],
                            name=op.f('fk_session_reasons_session_id_verification_sessions'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', 'reason', name=op.f('pk_session_reasons')))
    op.create_index('ix_session_reasons_tenant_reason_created', 'session_reasons',
                    ['tenant_id', 'reason', 'created_at', 'session_id'])
    op.create_table('console_session_rollups',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=96), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'day', 'kind', 'key',
                            name=op.f('pk_console_session_rollups')))
    # A plain ADD COLUMN (batch mode would rebuild the table on SQLite, and dropping the old
    # one cascades to its children). Existing sessions start not rolled up: the dashboard counts them live until the sweep
    # has added them to the rollups.
    op.add_column('verification_sessions', sa.Column(
        'rolled_up', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index('ix_sessions_tenant_rolled_created', 'verification_sessions',
                    ['tenant_id', 'rolled_up', 'created_at', 'status', 'submitted_at',
                     'decided_at', 'id'])
    op.create_index('ix_sessions_rolled_status', 'verification_sessions',
                    ['rolled_up', 'status'])
    op.execute(BACKFILL[op.get_bind().dialect.name])


def downgrade() -> None:
    op.drop_index('ix_sessions_rolled_status', table_name='verification_sessions')
    op.drop_index('ix_sessions_tenant_rolled_created', table_name='verification_sessions')
    # Not in batch mode: rebuilding the table on SQLite would cascade-delete its children.
    op.drop_column('verification_sessions', 'rolled_up')
    op.drop_table('console_session_rollups')
    op.drop_index('ix_session_reasons_tenant_reason_created', table_name='session_reasons')
    op.drop_table('session_reasons')

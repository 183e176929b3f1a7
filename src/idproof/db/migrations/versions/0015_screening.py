"""screening: list snapshots, their entries, tenant screening settings

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 00:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('screening_snapshots',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('entry_count', sa.Integer(), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('added', sa.Integer(), nullable=False),
    sa.Column('removed', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.Column('error_code', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_snapshots'))
    )
    with op.batch_alter_table('screening_snapshots', schema=None) as batch_op:
        batch_op.create_index('ix_screening_snapshots_source', ['source', 'status'],
                              unique=False)
    op.create_table('screening_entries',
    sa.Column('snapshot_id', sa.String(length=40), nullable=False),
    sa.Column('entry_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('snapshot_id', 'entry_id', name=op.f('pk_screening_entries'))
    )
    op.create_table('screening_settings',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('monitoring', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_screening_settings'))
    )


def downgrade() -> None:
    op.drop_table('screening_settings')
    op.drop_table('screening_entries')
    with op.batch_alter_table('screening_snapshots', schema=None) as batch_op:
        batch_op.drop_index('ix_screening_snapshots_source')
    op.drop_table('screening_snapshots')

"""signals (IP datasets, observations, sealed faces, results) and screening hit cases

Revision ID: 0022
Revises: 0015
Create Date: 2026-11-29 04:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table('screening_hits',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('entry_id', sa.String(length=128), nullable=False),
    sa.Column('snapshot_id', sa.String(length=40), nullable=False),
    sa.Column('listed_name', sa.String(length=300), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('explanation', sa.String(length=500), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=2000), nullable=True),
    sa.Column('reviewed_by', sa.String(length=40), nullable=True),
    _when('reviewed_at', True),
    _when('created_at'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_hits')),
    sa.UniqueConstraint('session_id', 'source', 'entry_id',
                        name=op.f('uq_screening_hits_entry')),
    )
    op.create_index('ix_screening_hits_tenant_status', 'screening_hits',
                    ['tenant_id', 'status'])
    op.create_table('signal_datasets',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    _when('created_at'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signal_datasets')),
    )
    op.create_index('ix_signal_datasets_kind', 'signal_datasets', ['kind', 'status'])
    op.create_table('signal_ranges',
    sa.Column('dataset_id', sa.String(length=40), nullable=False),
    sa.Column('first', sa.String(length=32), nullable=False),
    sa.Column('last', sa.String(length=32), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('asn', sa.Integer(), nullable=True),
    sa.Column('org', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('dataset_id', 'first', name=op.f('pk_signal_ranges')),
    )
    op.create_table('signal_observations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    _when('observed_at'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signal_observations')),
    )
    op.create_index('ix_signal_observations_key', 'signal_observations',
                    ['tenant_id', 'kind', 'key', 'observed_at'])
    op.create_index('ix_signal_observations_session', 'signal_observations', ['session_id'])
    op.create_table('signal_faces',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=True),
    sa.Column('subject_key_id', sa.String(length=64), nullable=True),
    sa.Column('list', sa.String(length=16), nullable=False),
    sa.Column('sealed_embedding', sa.LargeBinary(), nullable=False),
    _when('created_at'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signal_faces')),
    )
    op.create_index('ix_signal_faces_tenant', 'signal_faces', ['tenant_id'])
    op.create_index('ix_signal_faces_session', 'signal_faces', ['session_id'])
    op.create_table('signal_results',
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    _when('computed_at'),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_signal_results')),
    )


def downgrade() -> None:
    op.drop_table('signal_results')
    op.drop_index('ix_signal_faces_session', table_name='signal_faces')
    op.drop_index('ix_signal_faces_tenant', table_name='signal_faces')
    op.drop_table('signal_faces')
    op.drop_index('ix_signal_observations_session', table_name='signal_observations')
    op.drop_index('ix_signal_observations_key', table_name='signal_observations')
    op.drop_table('signal_observations')
    op.drop_table('signal_ranges')
    op.drop_index('ix_signal_datasets_kind', table_name='signal_datasets')
    op.drop_table('signal_datasets')
    op.drop_index('ix_screening_hits_tenant_status', table_name='screening_hits')
    op.drop_table('screening_hits')

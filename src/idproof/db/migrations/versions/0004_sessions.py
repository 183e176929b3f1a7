"""verification sessions, their steps and captured images

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 21:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'verification_sessions',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('tenant_id', sa.String(length=40), nullable=False),
        sa.Column('client_id', sa.String(length=40), nullable=False),
        sa.Column('workflow_id', sa.String(length=50), nullable=False),
        sa.Column('workflow_version', sa.Integer(), nullable=False),
        sa.Column('reference', sa.String(length=128), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('locale', sa.String(length=16), nullable=True),
        sa.Column('callback_url', sa.String(length=2048), nullable=True),
        sa.Column('metadata', sa.JSON(), nullable=False),
        sa.Column('subject_key_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('updated_at', UTC, nullable=False),
        sa.Column('expires_at', UTC, nullable=False),
        sa.Column('link_used_at', UTC, nullable=True),
        sa.Column('submitted_at', UTC, nullable=True),
        sa.Column('decided_at', UTC, nullable=True),
        sa.Column('decision', sa.JSON(), nullable=True),
        sa.Column('idempotency_key', sa.String(length=255), nullable=True),
        sa.Column('request_hash', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_sessions')),
        sa.UniqueConstraint('tenant_id', 'idempotency_key', name='uq_sessions_idempotency'),
    )
    with op.batch_alter_table('verification_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verification_sessions_tenant_id'), ['tenant_id'])
        batch_op.create_index(batch_op.f('ix_verification_sessions_status'), ['status'])
        batch_op.create_index(batch_op.f('ix_verification_sessions_created_at'),
                              ['created_at'])
        batch_op.create_index('ix_sessions_tenant_reference', ['tenant_id', 'reference'])

    op.create_table(
        'session_steps',
        sa.Column('session_id', sa.String(length=40), nullable=False),
        sa.Column('step', sa.String(length=20), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('reasons', sa.JSON(), nullable=False),
        sa.Column('facts', sa.JSON(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('updated_at', UTC, nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'],
                                name=op.f('fk_session_steps_session_id_verification_sessions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('session_id', 'step', name=op.f('pk_session_steps')),
    )
    op.create_table(
        'session_captures',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('session_id', sa.String(length=40), nullable=False),
        sa.Column('tenant_id', sa.String(length=40), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('blob_key', sa.String(length=128), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('delete_after', UTC, nullable=False),
        sa.Column('processed_at', UTC, nullable=True),
        sa.Column('deleted_at', UTC, nullable=True),
        sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'],
                                name=op.f('fk_session_captures_session_id_verification_sessions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_session_captures')),
    )
    with op.batch_alter_table('session_captures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_captures_session_id'), ['session_id'])
        batch_op.create_index(batch_op.f('ix_session_captures_delete_after'), ['delete_after'])
    op.create_table(
        'session_documents',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('session_id', sa.String(length=40), nullable=False),
        sa.Column('tenant_id', sa.String(length=40), nullable=False),
        sa.Column('subject_key_id', sa.String(length=64), nullable=False),
        sa.Column('document_type', sa.String(length=32), nullable=False),
        sa.Column('document_number_token', sa.String(length=64), nullable=False),
        sa.Column('document_index', sa.String(length=32), nullable=False),
        sa.Column('names_verified', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        *[sa.Column(name, sa.LargeBinary(), nullable=True) for name in (
            'issuing_country', 'surname', 'given_names', 'nationality', 'birth_date', 'sex',
            'expiry_date')],
        sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'],
                                name=op.f('fk_session_documents_session_id_verification_sessions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_session_documents')),
        sa.UniqueConstraint('session_id', name=op.f('uq_session_documents_session_id')),
    )
    with op.batch_alter_table('session_documents', schema=None) as batch_op:
        batch_op.create_index('ix_session_documents_tenant_index',
                              ['tenant_id', 'document_index'])


def downgrade() -> None:
    op.drop_table('session_documents')
    op.drop_table('session_captures')
    op.drop_table('session_steps')
    op.drop_table('verification_sessions')

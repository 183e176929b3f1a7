"""review: tenant review settings, assignments, four-eyes proposals, the queue's index

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 00:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('review_settings',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('sla_hours', sa.Integer(), nullable=False),
    sa.Column('four_eyes', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_review_settings'))
    )
    op.create_table('review_assignments',
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('operator_id', sa.String(length=40), nullable=False),
    sa.Column('assigned_by', sa.String(length=40), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'],
                            name=op.f('fk_review_assignments_session_id_verification_sessions'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_review_assignments'))
    )
    op.create_index(op.f('ix_review_assignments_operator_id'), 'review_assignments',
                    ['operator_id'], unique=False)
    op.create_index(op.f('ix_review_assignments_tenant_id'), 'review_assignments',
                    ['tenant_id'], unique=False)
    op.create_table('review_proposals',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('actor_type', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'],
                            name=op.f('fk_review_proposals_session_id_verification_sessions'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_proposals'))
    )
    op.create_index(op.f('ix_review_proposals_session_id'), 'review_proposals',
                    ['session_id'], unique=False)
    op.create_index('ix_sessions_tenant_status_decided', 'verification_sessions',
                    ['tenant_id', 'status', 'decided_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sessions_tenant_status_decided', table_name='verification_sessions')
    op.drop_index(op.f('ix_review_proposals_session_id'), table_name='review_proposals')
    op.drop_table('review_proposals')
    op.drop_index(op.f('ix_review_assignments_tenant_id'), table_name='review_assignments')
    op.drop_index(op.f('ix_review_assignments_operator_id'), table_name='review_assignments')
    op.drop_table('review_assignments')
    op.drop_table('review_settings')

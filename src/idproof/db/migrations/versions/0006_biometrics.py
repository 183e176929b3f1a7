"""liveness challenges and sealed selfie templates

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 01:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'liveness_challenges',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('session_id', sa.String(length=40), nullable=False),
        sa.Column('tenant_id', sa.String(length=40), nullable=False),
        sa.Column('actions', sa.JSON(), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('expires_at', UTC, nullable=False),
        sa.Column('used_at', UTC, nullable=True),
        sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'],
                                name=op.f('fk_liveness_challenges_session_id_verification_sessions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_liveness_challenges')),
    )
    op.create_index(op.f('ix_liveness_challenges_session_id'), 'liveness_challenges',
                    ['session_id'], unique=False)
    op.create_table(
        'selfie_templates',
        sa.Column('session_id', sa.String(length=40), nullable=False),
        sa.Column('tenant_id', sa.String(length=40), nullable=False),
        sa.Column('sealed_embedding', sa.LargeBinary(), nullable=False),
        sa.Column('pad_suspected', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'],
                                name=op.f('fk_selfie_templates_session_id_verification_sessions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('session_id', name=op.f('pk_selfie_templates')),
    )


def downgrade() -> None:
    op.drop_table('selfie_templates')
    op.drop_index(op.f('ix_liveness_challenges_session_id'), table_name='liveness_challenges')
    op.drop_table('liveness_challenges')

"""workflow steps: sealed e-mail addresses, phone numbers and questionnaire answers

Revision ID: 0019
Revises: 0015
Create Date: 2026-11-29 04:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'session_contacts',
        sa.Column('session_id', sa.String(length=40), nullable=False),
        sa.Column('step', sa.String(length=20), nullable=False),
        sa.Column('tenant_id', sa.String(length=40), nullable=False),
        sa.Column('sealed_value', sa.LargeBinary(), nullable=False),
        sa.Column('value_index', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'],
                                name=op.f('fk_session_contacts_session_id_verification_sessions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('session_id', 'step', name=op.f('pk_session_contacts')))


def downgrade() -> None:
    op.drop_table('session_contacts')

"""hosted-flow consent records and browser sessions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 01:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'hosted_browser_sessions',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('cookie_hash', sa.String(length=64), nullable=False),
        sa.Column('session_id', sa.String(length=40), nullable=False),
        sa.Column('tenant_id', sa.String(length=40), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('expires_at', UTC, nullable=False),
        sa.Column('document_type', sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'],
                                name=op.f('fk_hosted_browser_sessions_session_id_verification_sessions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_hosted_browser_sessions')),
        sa.UniqueConstraint('cookie_hash', name=op.f('uq_hosted_browser_sessions_cookie_hash')),
    )
    with op.batch_alter_table('hosted_browser_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hosted_browser_sessions_session_id'),
                              ['session_id'])
    op.create_table(
        'hosted_consents',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('session_id', sa.String(length=40), nullable=False),
        sa.Column('tenant_id', sa.String(length=40), nullable=False),
        sa.Column('text_version', sa.String(length=32), nullable=False),
        sa.Column('locale', sa.String(length=16), nullable=False),
        sa.Column('accepted_at', UTC, nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'],
                                name=op.f('fk_hosted_consents_session_id_verification_sessions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_hosted_consents')),
        sa.UniqueConstraint('session_id', name=op.f('uq_hosted_consents_session_id')),
    )
    # Origins a client's pages run on: the hosted page posts SDK messages to these only.
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('allowed_origins', sa.JSON(), nullable=False,
                                      server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('allowed_origins')
    op.drop_table('hosted_consents')
    with op.batch_alter_table('hosted_browser_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hosted_browser_sessions_session_id'))
    op.drop_table('hosted_browser_sessions')

"""hosted: phone hand-off links, tenant branding

Revision ID: 0018
Revises: 0015
Create Date: 2026-11-29 00:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hosted_handoffs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('from_browser_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('taken_by', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'],
                            name=op.f('fk_hosted_handoffs_session_id_verification_sessions'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hosted_handoffs')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_hosted_handoffs_token_hash'))
    )
    with op.batch_alter_table('hosted_handoffs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hosted_handoffs_session_id'), ['session_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_hosted_handoffs_from_browser_id'),
                              ['from_browser_id'], unique=False)
    op.create_table('hosted_branding',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=False),
    sa.Column('accent_color', sa.String(length=7), nullable=False),
    sa.Column('background_color', sa.String(length=7), nullable=True),
    sa.Column('privacy_url', sa.String(length=500), nullable=True),
    sa.Column('support_contact', sa.String(length=254), nullable=True),
    sa.Column('logo_png', sa.LargeBinary(), nullable=True),
    sa.Column('logo_sha256', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                            name=op.f('fk_hosted_branding_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_hosted_branding'))
    )


def downgrade() -> None:
    op.drop_table('hosted_branding')
    with op.batch_alter_table('hosted_handoffs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hosted_handoffs_from_browser_id'))
        batch_op.drop_index(batch_op.f('ix_hosted_handoffs_session_id'))
    op.drop_table('hosted_handoffs')

"""tenant_accepted_documents: a tenant's accepted issuing countries and document types

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-29 10:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No rows: a tenant without one accepts every document its workflows offer, as before.
    op.create_table('tenant_accepted_documents',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('countries', sa.JSON(), nullable=False),
    sa.Column('document_types', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_tenant_accepted_documents')))


def downgrade() -> None:
    op.drop_table('tenant_accepted_documents')

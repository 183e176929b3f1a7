"""tenants: how long raw document images are kept after the decision

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 01:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tenants') as batch:
        batch.add_column(sa.Column('image_retention_seconds', sa.Integer(), nullable=False,
                                   server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('tenants') as batch:
        batch.drop_column('image_retention_seconds')

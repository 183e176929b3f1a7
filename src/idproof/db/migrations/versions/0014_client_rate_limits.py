"""clients.rate_limits: a client's own rate limits per route group

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 00:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # {"sessions": "600/minute", ...}: overrides of the default per-client limits.
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rate_limits', sa.JSON(), nullable=False,
                                      server_default='{}'))


def downgrade() -> None:
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('rate_limits')

"""operators: sso_subject (single sign-on identity, hashed)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 00:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.add_column(sa.Column("sso_subject", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_operators_sso_subject", ["sso_subject"])


def downgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.drop_constraint("uq_operators_sso_subject", type_="unique")
        batch.drop_column("sso_subject")

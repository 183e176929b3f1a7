"""workflows: tenant workflows and their immutable versions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 00:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('workflows',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=50), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('latest_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_workflows'))
    )
    op.create_table('workflow_versions',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('workflow_id', sa.String(length=50), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id', 'workflow_id'], ['workflows.tenant_id', 'workflows.id'], name=op.f('fk_workflow_versions_tenant_id_workflows'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'workflow_id', 'version', name=op.f('pk_workflow_versions'))
    )


def downgrade() -> None:
    op.drop_table('workflow_versions')
    op.drop_table('workflows')

"""vault: tokens with sealed values, unique per (tenant, kind, blind index)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 21:14:40.474604

Wrapped data keys are NOT here: they live in the separate key store (crypto/keystore.py),
so a backup of this database holds no key.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vault_tokens',
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('blind_index', sa.String(length=32), nullable=True),
    sa.Column('subject_key_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    # A sealed envelope (idproof.crypto.fields.SealedBytes); NULL once the subject is erased.
    sa.Column('value', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_vault_tokens_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_vault_tokens')),
    sa.UniqueConstraint('tenant_id', 'kind', 'blind_index', name=op.f('uq_vault_tokens_tenant_id'))
    )
    with op.batch_alter_table('vault_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vault_tokens_subject_key_id'), ['subject_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vault_tokens_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('vault_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vault_tokens_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_vault_tokens_subject_key_id'))
    op.drop_table('vault_tokens')

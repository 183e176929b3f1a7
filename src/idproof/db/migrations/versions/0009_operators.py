"""operators: accounts, enrolment links, recovery codes, passkeys, console sessions

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 00:51:29.576941
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('operators',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('tenants', sa.JSON(), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('assigned_only', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('totp_secret', sa.LargeBinary(), nullable=True),
    sa.Column('totp_last_step', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_handle', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operators')),
    sa.UniqueConstraint('email', name=op.f('uq_operators_email')),
    sa.UniqueConstraint('user_handle', name=op.f('uq_operators_user_handle'))
    )
    op.create_table('operator_enrollments',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('operator_id', sa.String(length=40), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name=op.f('fk_operator_enrollments_operator_id_operators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_enrollments')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_operator_enrollments_token_hash'))
    )
    with op.batch_alter_table('operator_enrollments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operator_enrollments_operator_id'), ['operator_id'], unique=False)

    op.create_table('operator_passkeys',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('operator_id', sa.String(length=40), nullable=False),
    sa.Column('credential_id', sa.String(length=1400), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('sign_count', sa.Integer(), nullable=False),
    sa.Column('transports', sa.JSON(), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name=op.f('fk_operator_passkeys_operator_id_operators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_passkeys')),
    sa.UniqueConstraint('credential_id', name=op.f('uq_operator_passkeys_credential_id'))
    )
    with op.batch_alter_table('operator_passkeys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operator_passkeys_operator_id'), ['operator_id'], unique=False)

    op.create_table('operator_recovery_codes',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('operator_id', sa.String(length=40), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name=op.f('fk_operator_recovery_codes_operator_id_operators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_recovery_codes'))
    )
    with op.batch_alter_table('operator_recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operator_recovery_codes_operator_id'), ['operator_id'], unique=False)

    op.create_table('operator_sessions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('operator_id', sa.String(length=40), nullable=False),
    sa.Column('cookie_hash', sa.String(length=64), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('mfa_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('challenge', sa.String(length=128), nullable=True),
    sa.Column('enrollment_id', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name=op.f('fk_operator_sessions_operator_id_operators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_sessions')),
    sa.UniqueConstraint('cookie_hash', name=op.f('uq_operator_sessions_cookie_hash'))
    )
    with op.batch_alter_table('operator_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operator_sessions_operator_id'), ['operator_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('operator_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operator_sessions_operator_id'))

    op.drop_table('operator_sessions')
    with op.batch_alter_table('operator_recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operator_recovery_codes_operator_id'))

    op.drop_table('operator_recovery_codes')
    with op.batch_alter_table('operator_passkeys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operator_passkeys_operator_id'))

    op.drop_table('operator_passkeys')
    with op.batch_alter_table('operator_enrollments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operator_enrollments_operator_id'))

    op.drop_table('operator_enrollments')
    op.drop_table('operators')

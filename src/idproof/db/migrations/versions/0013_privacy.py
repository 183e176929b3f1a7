"""privacy: retention policies, legal holds, consent texts and records, blob chunks

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 00:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('blob_chunks',
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'seq', name=op.f('pk_blob_chunks'))
    )
    op.create_table('privacy_consent_texts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_consent_texts')),
    sa.UniqueConstraint('tenant_id', 'locale', 'version', name='uq_privacy_consent_texts_version')
    )
    op.create_table('privacy_legal_holds',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('case_ref', sa.String(length=64), nullable=False),
    sa.Column('placed_by', sa.String(length=64), nullable=False),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_by', sa.String(length=64), nullable=True),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_legal_holds'))
    )
    with op.batch_alter_table('privacy_legal_holds', schema=None) as batch_op:
        batch_op.create_index('ix_privacy_holds_session', ['session_id', 'released_at'], unique=False)
        batch_op.create_index('ix_privacy_holds_tenant', ['tenant_id'], unique=False)

    op.create_table('privacy_purge_runs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_purge_runs'))
    )
    with op.batch_alter_table('privacy_purge_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_purge_runs_started_at'), ['started_at'],
                              unique=False)

    op.create_table('privacy_retention_policies',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('extracted_fields_days', sa.Integer(), nullable=False),
    sa.Column('unsuccessful_days', sa.Integer(), nullable=False),
    sa.Column('face_templates_hours', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_privacy_retention_policies'))
    )
    op.create_table('privacy_consents',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('text_version', sa.String(length=32), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('ip_truncated', sa.Boolean(), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'], name=op.f('fk_privacy_consents_session_id_verification_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_consents'))
    )
    with op.batch_alter_table('privacy_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_consents_accepted_at'), ['accepted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_privacy_consents_session_id'), ['session_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('privacy_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_consents_session_id'))
        batch_op.drop_index(batch_op.f('ix_privacy_consents_accepted_at'))

    op.drop_table('privacy_consents')
    op.drop_table('privacy_retention_policies')
    with op.batch_alter_table('privacy_purge_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_purge_runs_started_at'))

    op.drop_table('privacy_purge_runs')
    with op.batch_alter_table('privacy_legal_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_privacy_holds_tenant')
        batch_op.drop_index('ix_privacy_holds_session')

    op.drop_table('privacy_legal_holds')
    op.drop_table('privacy_consent_texts')
    op.drop_table('blob_chunks')

"""client_tls: mTLS client registrations (RFC 8705); security_alert_acks: console acknowledgements

Revision ID: 0021
Revises: 0015
Create Date: 2026-11-29 00:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('client_tls',
    sa.Column('client_id', sa.String(length=40), nullable=False),
    sa.Column('method', sa.String(length=40), nullable=False),
    sa.Column('tls_subject', sa.String(length=512), nullable=True),
    sa.Column('jwk_thumbprint', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'],
                            name=op.f('fk_client_tls_client_id_clients')),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_client_tls'))
    )
    op.create_table('security_alert_acks',
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.Column('operator_id', sa.String(length=40), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_security_alert_acks'))
    )


def downgrade() -> None:
    op.drop_table('security_alert_acks')
    op.drop_table('client_tls')

"""console_decision_seconds (a day's times to decision as one histogram); session_steps index

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-29 11:00:00
"""
from __future__ import annotations

import json
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

ROLLUPS = sa.table('console_session_rollups', sa.column('tenant_id', sa.String),
                   sa.column('day', sa.String), sa.column('kind', sa.String),
                   sa.column('key', sa.String), sa.column('n', sa.Integer))


def upgrade() -> None:
    hist = op.create_table('console_decision_seconds',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('hist', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'day', name=op.f('pk_console_decision_seconds')))
    # The rollups' one-row-a-value 'seconds' counters move into the day's histogram.
    bind = op.get_bind()
    days: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for t, d, key, n in bind.execute(sa.select(
            ROLLUPS.c.tenant_id, ROLLUPS.c.day, ROLLUPS.c.key, ROLLUPS.c.n)
            .where(ROLLUPS.c.kind == 'seconds')):
        if n > 0:
            days[(t, d)][key] = n
    rows = [{'tenant_id': t, 'day': d, 'hist': json.dumps(h, sort_keys=True)}
            for (t, d), h in days.items()]
    for i in range(0, len(rows), 1000):
        op.bulk_insert(hist, rows[i:i + 1000])
    bind.execute(sa.delete(ROLLUPS).where(ROLLUPS.c.kind == 'seconds'))
    # The dashboard's funnel reads the live sessions' steps from this index alone.
    op.create_index('ix_session_steps_session_step_state', 'session_steps',
                    ['session_id', 'step', 'state'])


def downgrade() -> None:
    op.drop_index('ix_session_steps_session_step_state', table_name='session_steps')
    bind = op.get_bind()
    table = sa.table('console_decision_seconds', sa.column('tenant_id', sa.String),
                     sa.column('day', sa.String), sa.column('hist', sa.Text))
    rows = [{'tenant_id': t, 'day': d, 'kind': 'seconds', 'key': k, 'n': n}
            for t, d, h in bind.execute(sa.select(table.c.tenant_id, table.c.day,
                                                  table.c.hist))
            for k, n in json.loads(h).items()]
    for i in range(0, len(rows), 1000):
        op.bulk_insert(ROLLUPS, rows[i:i + 1000])
    op.drop_table('console_decision_seconds')

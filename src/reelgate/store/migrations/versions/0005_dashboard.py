"""jobs.finished_at and the dashboard's indexes

``finished_at`` is when a job reached its final state (completed or failed); older
rows get it from ``completed_at``, or from the event that failed them. The indexes
let each dashboard query be one range scan of one covering index.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.add_column('jobs', sa.Column('finished_at', sa.Float(), nullable=True))
    op.execute("UPDATE jobs SET finished_at = completed_at WHERE state = 'completed'")
    op.execute("UPDATE jobs SET finished_at = COALESCE((SELECT MIN(e.at) FROM job_events e "
               "WHERE e.job_id = jobs.id AND e.state = 'failed'), updated_at) "
               "WHERE state = 'failed'")
    op.create_index('ix_jobs_finished', 'jobs', ['finished_at', 'state', 'model', 'channel_id',
                                                 'created_at', 'started_at'])
    op.create_index('ix_jobs_created', 'jobs', ['created_at'])
    op.create_index('ix_jobs_started', 'jobs', ['started_at'])
    op.create_index('ix_ledger_kind_created', 'ledger', ['kind', 'created_at', 'tenant_id',
                                                         'amount_micros', 'job_id'])


def downgrade() -> None:
    op.drop_index('ix_ledger_kind_created', table_name='ledger')
    for name in ('ix_jobs_started', 'ix_jobs_created', 'ix_jobs_finished'):
        op.drop_index(name, table_name='jobs')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('finished_at')

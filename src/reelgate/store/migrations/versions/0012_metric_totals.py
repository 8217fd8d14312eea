"""metric_totals: running totals /metrics reads instead of scanning history

Created and filled from what is there: settle and refund ledger entries by model and
tenant, finished jobs (live ones by state, failures by code, polls, completed jobs'
durations in the histogram's buckets) and finished webhook deliveries. From here on
the changes that make these facts add to them in their own transactions
(reelgate.store.totals).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

#: reelgate.metrics.snapshot.DURATION_BUCKETS when this was written
_BUCKETS = (5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200)

_COLUMNS = "metric, model, tenant_id, channel_id, label, count, amount"


def _fill(select: str) -> None:
    op.execute(f"INSERT INTO metric_totals ({_COLUMNS}) {select}")


def upgrade() -> None:
    op.create_table(
        'metric_totals',
        sa.Column('metric', sa.String(length=20), nullable=False),
        sa.Column('model', sa.String(length=100), nullable=False),
        sa.Column('tenant_id', sa.String(length=40), nullable=False),
        sa.Column('channel_id', sa.String(length=40), nullable=False),
        sa.Column('label', sa.String(length=100), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('metric', 'model', 'tenant_id', 'channel_id', 'label',
                                name=op.f('pk_metric_totals')),
    )
    _fill("SELECT 'settle', j.model, l.tenant_id, '', '', COUNT(*), "
          "COALESCE(SUM(COALESCE(j.charged_micros, 0)), 0) "
          "FROM ledger l JOIN jobs j ON j.id = l.job_id WHERE l.kind = 'settle' "
          "GROUP BY j.model, l.tenant_id")
    _fill("SELECT 'refund', j.model, l.tenant_id, '', '', COUNT(*), "
          "COALESCE(SUM(l.amount_micros), 0) "
          "FROM ledger l JOIN jobs j ON j.id = l.job_id WHERE l.kind = 'refund' "
          "GROUP BY j.model, l.tenant_id")
    chan = "COALESCE(channel_id, '')"
    _fill(f"SELECT 'jobs', model, '', {chan}, state, COUNT(*), 0 FROM jobs "
          "WHERE state IN ('completed', 'failed') AND deleted_at IS NULL "
          f"GROUP BY model, {chan}, state")
    code = "COALESCE(error_code, '')"
    _fill(f"SELECT 'failures', '', '', {chan}, {code}, COUNT(*), 0 FROM jobs "
          f"WHERE state = 'failed' GROUP BY {chan}, {code}")
    _fill(f"SELECT 'polls', '', '', {chan}, '', COUNT(*), COALESCE(SUM(poll_count), 0) "
          f"FROM jobs WHERE state IN ('completed', 'failed') GROUP BY {chan}")
    took = "(completed_at - created_at)"
    bucket = ("CASE " + " ".join(f"WHEN {took} <= {b} THEN '{b}'" for b in _BUCKETS)
              + " ELSE '+Inf' END")
    _fill("SELECT 'duration', model, '', '', bucket, COUNT(*), COALESCE(SUM(us), 0) FROM ("
          f"SELECT model, {bucket} AS bucket, CAST(ROUND({took} * 1000000) AS BIGINT) AS us "
          "FROM jobs WHERE state = 'completed' AND completed_at IS NOT NULL) AS done "
          "GROUP BY model, bucket")
    _fill("SELECT 'webhooks', '', '', '', status, COUNT(*), 0 FROM webhook_deliveries "
          "WHERE status <> 'pending' GROUP BY status")
    _fill("SELECT 'webhook_attempts', '', '', '', '', 0, COALESCE(SUM(attempts), 0) "
          "FROM webhook_deliveries HAVING COUNT(*) > 0")


def downgrade() -> None:
    op.drop_table('metric_totals')

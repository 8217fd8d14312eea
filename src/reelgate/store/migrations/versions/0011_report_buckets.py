"""report_buckets: the dashboard's closed buckets, computed once for every process

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'report_buckets',
        sa.Column('what', sa.String(length=40), nullable=False),
        sa.Column('step', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('start', sa.Float(), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('what', 'step', 'start', name=op.f('pk_report_buckets')),
    )


def downgrade() -> None:
    op.drop_table('report_buckets')

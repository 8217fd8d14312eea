"""jobs.render_seconds (GPU time the upstream measured) and jobs.render_cap_seconds
(a job billed by GPU time: the seconds its reservation paid for)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('render_seconds', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('render_cap_seconds', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('render_cap_seconds')
        batch_op.drop_column('render_seconds')

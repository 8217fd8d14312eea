"""jobs.reference_width, jobs.reference_height: a reference image's measured size,
kept with the job so the worker need not measure it again

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reference_width', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reference_height', sa.Integer(), nullable=True))
    # older jobs with a reference: the API had checked it is exactly the job's size
    jobs = sa.table('jobs', sa.column('id', sa.String), sa.column('size', sa.String),
                    sa.column('reference_key', sa.String),
                    sa.column('reference_width', sa.Integer),
                    sa.column('reference_height', sa.Integer))
    bind = op.get_bind()
    rows = bind.execute(sa.select(jobs.c.id, jobs.c.size)
                        .where(jobs.c.reference_key.is_not(None))).all()
    for job_id, size in rows:
        width, _, height = size.partition('x')
        bind.execute(sa.update(jobs).where(jobs.c.id == job_id)
                     .values(reference_width=int(width), reference_height=int(height)))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('reference_height')
        batch_op.drop_column('reference_width')

"""upstream_errors: failed upstream calls counted per channel, operation and kind

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'upstream_errors',
        sa.Column('channel_id', sa.String(length=40), nullable=False),
        sa.Column('op', sa.String(length=20), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('channel_id', 'op', 'kind', name=op.f('pk_upstream_errors')),
    )


def downgrade() -> None:
    op.drop_table('upstream_errors')

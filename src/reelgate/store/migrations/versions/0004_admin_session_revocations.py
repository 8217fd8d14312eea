"""admin_session_revocations: admin UI sessions signed out before their cookie expired

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'admin_session_revocations',
        sa.Column('session_id', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('session_id', name=op.f('pk_admin_session_revocations')),
    )


def downgrade() -> None:
    op.drop_table('admin_session_revocations')

"""edits, extensions, characters, snapshots: jobs.operation, source_id, source_key,
segment_seconds, extensions, characters, model_alias; the characters table

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('operation', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('source_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('source_key', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('segment_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('extensions', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('characters', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('model_alias', sa.String(length=100), nullable=True))
    op.create_table(
        'characters',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('tenant_id', sa.String(length=40), nullable=False),
        sa.Column('key_id', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('channel_id', sa.String(length=40), nullable=False),
        sa.Column('credential_id', sa.String(length=40), nullable=True),
        sa.Column('upstream_id', sa.String(length=500), nullable=False),
        sa.Column('price_micros', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name=op.f('fk_characters_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_characters')),
    )
    op.create_index('ix_characters_tenant_created', 'characters', ['tenant_id', 'created_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_characters_tenant_created', table_name='characters')
    op.drop_table('characters')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        for name in ('model_alias', 'characters', 'extensions', 'segment_seconds',
                     'source_key', 'source_id', 'operation'):
            batch_op.drop_column(name)

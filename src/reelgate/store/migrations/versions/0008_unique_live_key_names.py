"""api_keys: a name is unique among a tenant's live keys, so it says which key

Older databases may hold live keys that share a name in one tenant: all but the
oldest are renamed ``<name>-<key id>`` first (a rename, never a revoke), then the
partial unique index is created.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_WHERE = sa.text('revoked_at IS NULL')


def upgrade() -> None:
    keys = sa.table('api_keys', sa.column('id', sa.String), sa.column('tenant_id', sa.String),
                    sa.column('name', sa.String), sa.column('created_at', sa.Float),
                    sa.column('revoked_at', sa.Float))
    bind = op.get_bind()
    rows = bind.execute(sa.select(keys.c.id, keys.c.tenant_id, keys.c.name)
                        .where(keys.c.revoked_at.is_(None))
                        .order_by(keys.c.created_at, keys.c.id)).all()
    seen: set[tuple[str, str]] = set()
    for key_id, tenant_id, name in rows:
        if (tenant_id, name) in seen:
            bind.execute(sa.update(keys).where(keys.c.id == key_id)
                         .values(name=f'{name}-{key_id}'[:200]))
        seen.add((tenant_id, name))
    op.create_index('uq_api_keys_tenant_live_name', 'api_keys', ['tenant_id', 'name'],
                    unique=True, sqlite_where=_WHERE, postgresql_where=_WHERE)


def downgrade() -> None:
    op.drop_index('uq_api_keys_tenant_live_name', table_name='api_keys')

"""Operator rows of the catalog in the database, and the merged catalog they produce.

Each ``catalog_models`` row holds the fields an operator set for one model (in the file
format), merged field by field over the shipped table of the same id, or standing
alone for a model the operator added. ``catalog_revision`` is one integer bumped by
every change: readers poll it cheaply, writers take its row lock first so changes
apply one after another, each to the newest state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.catalog.document import merge, spec_from_doc
from reelgate.catalog.files import default_docs
from reelgate.catalog.index import Catalog
from reelgate.ids import now
from reelgate.store.tables import catalog_models, catalog_revision

__all__ = ["OperatorRow", "build", "bump_revision", "load_rows", "read_revision", "save_row"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OperatorRow:
    model_id: str
    doc: dict[str, Any]
    version: int
    created_at: float


async def read_revision(conn: AsyncConnection) -> int:
    value = (await conn.execute(select(catalog_revision.c.revision)
                                .where(catalog_revision.c.id == 1))).scalar()
    return int(value or 0)


async def bump_revision(conn: AsyncConnection) -> int:
    """Next revision; holds the row lock (PostgreSQL) until the transaction ends, so
    concurrent writers queue here and each sees the rows the previous one wrote."""
    res = await conn.execute(update(catalog_revision).where(catalog_revision.c.id == 1)
                             .values(revision=catalog_revision.c.revision + 1)
                             .returning(catalog_revision.c.revision))
    return int(res.scalar_one())


async def load_rows(conn: AsyncConnection) -> dict[str, OperatorRow]:
    rows = await conn.execute(select(catalog_models)
                              .order_by(catalog_models.c.created_at, catalog_models.c.id))
    return {r.id: OperatorRow(r.id, dict(r.doc), int(r.version), float(r.created_at))
            for r in rows}


async def save_row(conn: AsyncConnection, model_id: str, doc: Mapping[str, Any],
                   previous: OperatorRow | None) -> int:
    """Insert or compare-and-swap one row; returns the new version.

    The caller holds the revision lock, so the swap only fails if the rows it read
    were stale, which is a bug: it raises rather than overwrite.
    """
    t = now()
    if previous is None:
        await conn.execute(catalog_models.insert().values(
            id=model_id, doc=dict(doc), version=1, created_at=t, updated_at=t))
        return 1
    res = await conn.execute(update(catalog_models).where(
        catalog_models.c.id == model_id, catalog_models.c.version == previous.version)
        .values(doc=dict(doc), version=previous.version + 1, updated_at=t))
    if res.rowcount != 1:
        raise RuntimeError(f"catalog row {model_id} changed under the revision lock")
    return previous.version + 1


def merged_docs(rows: Mapping[str, OperatorRow]) -> dict[str, dict[str, Any]]:
    """Every model's effective table: shipped ones first (file order), then added ones."""
    docs = default_docs()
    out = {mid: merge(doc, rows[mid].doc) if mid in rows else doc for mid, doc in docs.items()}
    out.update({mid: dict(row.doc) for mid, row in rows.items() if mid not in docs})
    return out


def build(rows: Mapping[str, OperatorRow]) -> Catalog:
    """The merged, validated catalog; CatalogError names the first field that is wrong."""
    return Catalog(spec_from_doc(mid, doc) for mid, doc in merged_docs(rows).items())

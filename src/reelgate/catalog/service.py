"""Managing the catalog: the one set of rules behind ``reelgate models`` and the admin API.

Every change runs in one transaction: take the revision lock (so changes apply one
after another, each to the newest rows), apply the change to the model's effective
table, validate the *whole* merged catalog, then write. Anything invalid raises
before a row is written, so nothing is ever half-changed. A change names only what
it changes (a price, an alias), so two admins editing at once both land; an editor
that sends the ``version`` it read gets a 409 instead of overwriting a newer edit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reelgate.catalog.document import (
    FIELDS,
    CatalogError,
    check_name,
    doc_from_spec,
    merge,
    spec_from_doc,
)
from reelgate.catalog.files import catalog_text, default_docs, parse_catalog_text
from reelgate.catalog.index import Catalog
from reelgate.catalog.live import LiveCatalog
from reelgate.catalog.spec import ModelSpec, usd
from reelgate.catalog.store import (
    OperatorRow,
    build,
    bump_revision,
    load_rows,
    merged_docs,
    save_row,
)
from reelgate.errors import ConflictError, NotFound
from reelgate.store.db import Database

__all__ = ["CatalogService", "ModelChange", "ModelRecord"]


@dataclass(frozen=True)
class ModelChange:
    """What one edit changes; everything else stays as the newest row has it."""

    #: whole fields replaced (file format); None reverts a field to the shipped value
    fields: Mapping[str, Any] = field(default_factory=dict)
    #: size -> USD per second ("0.12"); a new size is added
    set_prices: Mapping[str, str] = field(default_factory=dict)
    remove_sizes: Sequence[str] = ()
    add_aliases: Sequence[str] = ()
    remove_aliases: Sequence[str] = ()


@dataclass(frozen=True)
class ModelRecord:
    spec: ModelSpec
    #: 0 for a shipped model nobody changed; send it back to update without losing edits
    version: int
    #: "shipped", "operator" (added at run time) or "shipped+operator"
    source: str
    #: the fields set by an operator
    changed: tuple[str, ...]


Edit = Callable[[dict[str, OperatorRow], dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]


def _record(spec: ModelSpec, row: OperatorRow | None, shipped: bool) -> ModelRecord:
    changed = tuple(row.doc) if row is not None and shipped else ()
    source = "operator" if not shipped else ("shipped+operator" if changed else "shipped")
    return ModelRecord(spec, row.version if row else 0, source, changed)


def _normal(model_id: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    return doc_from_spec(spec_from_doc(model_id, doc))


def _patch(model_id: str, effective: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``effective`` an operator row must hold: for a shipped model those
    that differ from the shipped table, for an added model all of them."""
    full = _normal(model_id, effective)
    shipped = default_docs().get(model_id)
    if shipped is None:
        return full
    base = _normal(model_id, shipped)
    return {k: v for k, v in full.items() if base.get(k) != v}


def _check_version(rows: Mapping[str, OperatorRow], model_id: str,
                   expected: int | None) -> None:
    current = rows[model_id].version if model_id in rows else 0
    if expected is not None and expected != current:
        raise ConflictError(
            f"{model_id} was changed by someone else (version {current}, you sent "
            f"{expected}); reload it and apply your change again.", param="version",
            code="version_conflict")


def _apply(doc: dict[str, Any], change: ModelChange, model_id: str) -> dict[str, Any]:
    shipped = default_docs().get(model_id, {})
    for key, value in change.fields.items():
        if key not in FIELDS:
            raise CatalogError(f"models.{model_id}.{key}: unknown field; a model has "
                               f"{', '.join(FIELDS)}", param=key)
        if value is None:
            doc.pop(key, None)
            if key in shipped:
                doc[key] = shipped[key]
        else:
            doc[key] = value
    if change.set_prices or change.remove_sizes:
        prices = dict(doc.get("prices", {}))
        for size in change.remove_sizes:
            if size not in prices:
                raise CatalogError(f"models.{model_id}.prices: unknown size {size!r}; the "
                                   f"model has {', '.join(prices)}", param="size")
            del prices[size]
        for size, price in change.set_prices.items():
            try:
                usd(price)
            except ValueError as exc:
                raise CatalogError(f"models.{model_id}.prices.{size}: {exc}",
                                   param="price") from None
            prices[size] = price
        doc["prices"] = prices
    if change.add_aliases or change.remove_aliases:
        aliases = list(doc.get("aliases", []))
        for alias in change.remove_aliases:
            if alias not in aliases:
                raise CatalogError(f"models.{model_id}.aliases: {alias!r} is not an alias of "
                                   f"{model_id}", param="alias")
            aliases.remove(alias)
        for alias in change.add_aliases:
            check_name(alias, f"models.{model_id}.aliases", "an alias")
            if alias not in aliases:
                aliases.append(alias)
        doc["aliases"] = aliases
    return doc


class CatalogService:
    def __init__(self, db: Database, live: LiveCatalog | None = None) -> None:
        self.db = db
        self.live = live

    async def records(self) -> list[ModelRecord]:
        async with self.db.read() as conn:
            rows = await load_rows(conn)
        shipped = default_docs()
        return [_record(spec, rows.get(spec.id), spec.id in shipped) for spec in build(rows)]

    async def show(self, model_id: str) -> ModelRecord:
        for record in await self.records():
            if model_id == record.spec.id or model_id in record.spec.aliases:
                return record
        raise NotFound(f"No model {model_id!r} in the catalog.", param="model",
                       code="model_not_found")

    async def export_text(self) -> str:
        return catalog_text([r.spec for r in await self.records()])

    async def _write(self, edit: Edit) -> Catalog:
        async with self.db.begin() as conn:
            revision = await bump_revision(conn)
            rows = await load_rows(conn)
            new_docs = edit(rows, merged_docs(rows))
            staged = dict(rows)
            for mid, effective in new_docs.items():
                version = rows[mid].version if mid in rows else 0
                created = rows[mid].created_at if mid in rows else float("inf")
                staged[mid] = OperatorRow(mid, _patch(mid, effective), version, created)
            catalog = build(staged)  # the whole catalog must hold before anything is written
            for mid in new_docs:
                await save_row(conn, mid, staged[mid].doc, rows.get(mid))
        if self.live is not None:
            self.live.install(catalog, revision)
        return catalog

    async def add(self, model_id: str, doc: Mapping[str, Any]) -> ModelRecord:
        """A new model; its id must not name a model or an alias already."""
        check_name(model_id, "model")

        def edit(rows: dict[str, OperatorRow],
                 docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
            if model_id in docs:
                raise ConflictError(f"The catalog already has a model {model_id!r}; use "
                                    "update to change it.", param="model", code="model_exists")
            return {model_id: dict(doc)}

        await self._write(edit)
        return await self.show(model_id)

    async def update(self, model_id: str, change: ModelChange, *,
                     expected_version: int | None = None) -> ModelRecord:
        def edit(rows: dict[str, OperatorRow],
                 docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
            if model_id not in docs:
                raise NotFound(f"No model {model_id!r} in the catalog.", param="model",
                               code="model_not_found")
            _check_version(rows, model_id, expected_version)
            return {model_id: _apply(merge(None, docs[model_id]), change, model_id)}

        await self._write(edit)
        return await self.show(model_id)

    async def alias(self, model_id: str, alias: str, *, remove: bool = False,
                    expected_version: int | None = None) -> ModelRecord:
        change = (ModelChange(remove_aliases=[alias]) if remove
                  else ModelChange(add_aliases=[alias]))
        return await self.update(model_id, change, expected_version=expected_version)

    async def retire(self, model_id: str, *, message: str = "", successor: str | None = None,
                     expected_version: int | None = None) -> ModelRecord:
        fields = {"state": "retired", "message": message, "successor": successor or ""}
        return await self.update(model_id, ModelChange(fields=fields),
                                 expected_version=expected_version)

    async def import_text(self, text: str) -> list[str]:
        """Each model in the file becomes exactly as written there; others stay as they are."""
        docs = parse_catalog_text(text)

        def edit(rows: dict[str, OperatorRow],
                 current: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
            return docs

        await self._write(edit)
        return list(docs)

"""Operator changes through CatalogService on a real database: validation, atomicity,
import/export, concurrency and live reload."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select

from reelgate.catalog import CATALOG, CatalogError, ModelState, Resolution, catalog_text
from reelgate.catalog.live import LiveCatalog
from reelgate.catalog.service import CatalogService, ModelChange
from reelgate.catalog.store import read_revision
from reelgate.errors import ConflictError, NotFound
from reelgate.store.db import Database
from reelgate.store.tables import catalog_models

KLING: dict[str, Any] = {
    "owned_by": "kuaishou", "description": "Kling v9 (a test model)", "seconds": "3-15",
    "default_seconds": "5", "operations": ["create", "image_reference"],
    "upstream": {"kling": "kling-v9"},
    "prices": {"1280x720": "0.084", "1920x1080": "0.14"},
}


async def rows(db: Database) -> dict[str, tuple[dict[str, Any], int]]:
    async with db.read() as conn:
        return {r.id: (r.doc, r.version) for r in await conn.execute(select(catalog_models))}


async def test_add_then_update_alias_and_show(db: Database) -> None:
    live = LiveCatalog(db)
    svc = CatalogService(db, live)
    added = await svc.add("kling-v9", KLING)
    assert (added.version, added.source) == (1, "operator")
    assert added.spec.seconds[0] == "3" and added.spec.seconds[-1] == "15"
    got = live.get("kling-v9")  # installed in this process at once
    assert got is not None and got.prices["1920x1080"] == 140_000
    updated = await svc.update("kling-v9", ModelChange(set_prices={"1920x1080": "0.15"}))
    assert updated.version == 2 and updated.spec.prices == {"1280x720": 84_000,
                                                            "1920x1080": 150_000}
    await svc.alias("kling-v9", "kling-newest")
    assert (await svc.show("kling-newest")).spec.id == "kling-v9"
    resolved = live.resolve("kling-newest")
    assert isinstance(resolved, Resolution) and resolved.spec.id == "kling-v9"
    with pytest.raises(ConflictError) as err:
        await svc.add("kling-v9", KLING)
    assert err.value.code == "model_exists"
    with pytest.raises(NotFound):
        await svc.update("nope", ModelChange(fields={"description": "x"}))


async def test_shipped_model_rows_hold_only_what_changed(db: Database) -> None:
    svc = CatalogService(db)
    rec = await svc.update("sora-2", ModelChange(set_prices={"1280x720": "0.12"},
                                                 fields={"description": "negotiated"}))
    assert rec.source == "shipped+operator" and set(rec.changed) == {"prices", "description"}
    assert rec.spec.prices == {"720x1280": 100_000, "1280x720": 120_000}
    assert rec.spec.aliases == ("sora-2-2025-10-06", "sora-2-2025-12-08")  # kept from the file
    assert (await rows(db))["sora-2"][0] == {
        "description": "negotiated", "prices": {"720x1280": "0.10", "1280x720": "0.12"}}
    back = await svc.update("sora-2", ModelChange(fields={"description": None}))
    assert back.spec.description == "Sora 2, 720p" and back.changed == ("prices",)


@pytest.mark.parametrize(("change", "param", "words"), [
    (ModelChange(set_prices={"1280x720": "ten cents"}), "price", "not a USD amount"),
    (ModelChange(set_prices={"1280x720": "0.1234567"}), "price", "at most 6 decimals"),
    (ModelChange(set_prices={"1280X720": "0.10"}), "models.veo-3.1.prices", "not a size"),
    (ModelChange(remove_sizes=["640x480"]), "size", "unknown size '640x480'"),
    (ModelChange(remove_sizes=["1920x1080"]), "models.veo-3.1.rules[0]", "unknown size"),
    (ModelChange(remove_sizes=["1280x720"]), "models.veo-3.1.default_size", "not one of"),
    (ModelChange(fields={"rules": [{"when_sizes": ["1280x720", "720x1280", "1920x1080",
                                                   "1080x1920"], "seconds": ["8"]},
                                   {"when_seconds": ["8"], "sizes": ["1920x1080"]}]}),
     "models.veo-3.1.rules", "leave no duration"),
    (ModelChange(fields={"state": "retired", "successor": "sora-3"}),
     "models.veo-3.1.successor", "unknown model 'sora-3'"),
    (ModelChange(add_aliases=["sora-2"]), "models.veo-3.1.aliases", "already names sora-2"),
    (ModelChange(fields={"colour": "red"}), "colour", "unknown field"),
])
async def test_refused_changes_write_nothing(db: Database, change: ModelChange, param: str,
                                             words: str) -> None:
    svc = CatalogService(db)
    await svc.update("veo-3.1", ModelChange(fields={"description": "before"}))
    async with db.read() as conn:
        revision = await read_revision(conn)
    before = await rows(db)
    with pytest.raises(CatalogError) as err:
        await svc.update("veo-3.1", change)
    assert err.value.param == param and words in err.value.message, err.value.message
    assert await rows(db) == before
    async with db.read() as conn:
        assert await read_revision(conn) == revision  # rolled back with the rest


async def test_retire_with_and_without_successor(db: Database) -> None:
    live = LiveCatalog(db)
    svc = CatalogService(db, live)
    await svc.retire("sora-2", message="OpenAI shut the Sora API down.", successor="veo-3.1")
    got = live.resolve("sora-2-2025-10-06")
    assert isinstance(got, Resolution) and got.spec.id == "veo-3.1"
    assert got.notice == ("sora-2 is retired; this job runs on veo-3.1. "
                          "OpenAI shut the Sora API down.")
    await svc.retire("sora-2-pro", message="Gone.")
    refused = live.resolve("sora-2-pro")
    assert not isinstance(refused, Resolution) and refused.code == "model_retired"
    with pytest.raises(CatalogError, match="needs a message or a successor"):
        await svc.retire("seedance-1.0-pro")
    back = await svc.update("sora-2-pro", ModelChange(fields={"state": "active"}))
    assert back.spec.state is ModelState.ACTIVE
    assert isinstance(live.resolve("sora-2-pro"), Resolution)


async def test_import_export_round_trip(db: Database, tmp_path: Any) -> None:
    svc = CatalogService(db)
    await svc.add("kling-v9", KLING)
    await svc.update("veo-3.1", ModelChange(set_prices={"1920x1080": "0.45"},
                                            add_aliases=["veo-3.1-generate-preview"]))
    await svc.retire("sora-2", message="Use veo.", successor="veo-3.1")
    exported = await svc.export_text()
    other = Database(f"sqlite+aiosqlite:///{tmp_path / 'other.sqlite'}")
    from reelgate.store.migrate import upgrade
    await upgrade(other)
    try:
        imported = CatalogService(other)
        assert set(await imported.import_text(exported)) == {m.id for m in CATALOG} | {
            "kling-v9"}
        assert await imported.export_text() == exported
        assert [r.spec for r in await imported.records()] == \
            [r.spec for r in await svc.records()]
        # importing the shipped defaults leaves shipped models with empty rows
        await imported.import_text(catalog_text(list(CATALOG)))
        assert {k: d for k, (d, _) in (await rows(other)).items() if d} == {
            "kling-v9": (await rows(other))["kling-v9"][0]}
    finally:
        await other.dispose()
    with pytest.raises(CatalogError) as err:
        await svc.import_text(exported.replace('"0.45"', '"0.45.1"'))
    assert err.value.param == "models.veo-3.1.prices.1920x1080"
    assert await svc.export_text() == exported  # nothing of the bad file landed


async def test_version_check_refuses_a_stale_editor(db: Database) -> None:
    svc = CatalogService(db)
    seen = await svc.show("seedance-1.0-pro")
    assert seen.version == 0
    await svc.update("seedance-1.0-pro", ModelChange(set_prices={"1280x720": "0.06"}),
                     expected_version=seen.version)
    with pytest.raises(ConflictError) as err:
        await svc.update("seedance-1.0-pro", ModelChange(set_prices={"1280x720": "0.07"}),
                         expected_version=seen.version)
    assert err.value.code == "version_conflict" and err.value.status == 409
    assert (await svc.show("seedance-1.0-pro")).spec.prices["1280x720"] == 60_000


async def test_concurrent_admins_lose_nothing(db: Database) -> None:
    """Many admins at once, each changing one thing of the same models: every change lands."""
    svc_a, svc_b = CatalogService(db), CatalogService(db)
    sizes = list(CATALOG.get("sora-2-pro").prices)  # type: ignore[union-attr]
    edits = [svc_a.update("sora-2-pro", ModelChange(set_prices={size: f"0.{i + 11}"}))
             for i, size in enumerate(sizes)]
    edits += [svc_b.alias("sora-2-pro", f"pro-{i}") for i in range(4)]
    edits += [svc_a.update("veo-3.1", ModelChange(fields={"description": "edited"})),
              svc_b.update("veo-3.1", ModelChange(set_prices={"720x1280": "0.41"}))]
    await asyncio.gather(*edits)
    pro = await svc_a.show("sora-2-pro")
    assert pro.spec.prices == {size: (i + 11) * 10_000 for i, size in enumerate(sizes)}
    assert set(pro.spec.aliases) == {"sora-2-pro-2025-10-06", *(f"pro-{i}" for i in range(4))}
    assert pro.version == len(sizes) + 4
    veo = await svc_b.show("veo-3.1")
    assert veo.spec.description == "edited" and veo.spec.prices["720x1280"] == 410_000


async def test_another_process_sees_a_change_within_seconds(db: Database) -> None:
    """Two LiveCatalogs on one database stand for two processes: one writes, the other's
    watcher picks the change up on its own."""
    writer = CatalogService(db, LiveCatalog(db))
    reader = LiveCatalog(db, interval=0.2)
    await reader.refresh()
    reader.start()
    try:
        await writer.add("kling-v9", KLING)
        deadline = time.monotonic() + 30
        while reader.get("kling-v9") is None:
            assert time.monotonic() < deadline, "the watcher never saw the new model"
            await asyncio.sleep(0.05)
        await writer.update("kling-v9", ModelChange(set_prices={"1280x720": "0.09"}))
        while reader.get("kling-v9").prices["1280x720"] != 90_000:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the watcher never saw the price change"
            await asyncio.sleep(0.05)
        assert not await reader.refresh()  # nothing new: one integer read, no rebuild
    finally:
        await reader.aclose()

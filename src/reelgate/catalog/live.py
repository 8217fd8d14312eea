"""A catalog that follows operator changes: every process sees a change within seconds.

The gateway holds one :class:`LiveCatalog` for its lifetime and hands it to the
validator, the pricer and the channel manager. A background task reads the one-row
revision counter every ``interval`` seconds (one indexed read of an integer) and
rebuilds the snapshot only when it moved; a change made in this process is installed
at once. Readers never wait: a snapshot is swapped in one assignment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from reelgate.catalog.document import CatalogError
from reelgate.catalog.files import default_specs
from reelgate.catalog.index import Catalog
from reelgate.catalog.spec import ModelSpec
from reelgate.catalog.store import build, load_rows, read_revision
from reelgate.store.db import Database

__all__ = ["LiveCatalog"]

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0


class LiveCatalog(Catalog):
    def __init__(self, db: Database, models: Iterable[ModelSpec] | None = None,
                 *, interval: float = REFRESH_SECONDS) -> None:
        super().__init__(default_specs() if models is None else models)
        self.db = db
        self.interval = interval
        #: the catalog revision this snapshot reflects (-1: defaults, never read)
        self.revision = -1
        self._task: asyncio.Task[None] | None = None

    def install(self, catalog: Catalog, revision: int) -> None:
        """Take ``catalog`` as of ``revision``, unless a newer one is already here."""
        if revision >= self.revision:
            self.replace(catalog)
            self.revision = revision

    async def refresh(self) -> bool:
        """Reload if the revision moved; True if the snapshot changed."""
        async with self.db.read() as conn:
            revision = await read_revision(conn)
            if revision == self.revision:
                return False
            rows = await load_rows(conn)  # read after the revision: never older than it
        try:
            catalog = build(rows)
        except CatalogError as exc:  # e.g. new shipped defaults clash with an operator row
            log.error("catalog revision %s is invalid, keeping the previous one: %s",
                      revision, exc.message)
            self.revision = revision
            return False
        self.install(catalog, revision)
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="catalog-refresh")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.refresh()
            except Exception:  # a database blip must not stop the watcher
                log.warning("catalog refresh failed; retrying", exc_info=True)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

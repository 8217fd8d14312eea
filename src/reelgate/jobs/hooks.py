"""Seams where billing, webhooks and metrics attach to the job lifecycle.

Hooks run inside the same database transaction as the change they observe, so a
reservation is made atomically with the job row and a settlement atomically with
the terminal state: either both happen or neither does. A hook that raises an
:class:`~reelgate.errors.APIError` in ``on_created`` rejects the create.
"""

from __future__ import annotations

from typing import Protocol

from reelgate.auth.principal import Principal
from reelgate.catalog import Catalog
from reelgate.jobs.model import Job
from reelgate.store.db import Tx

__all__ = ["CatalogPricer", "JobCounters", "JobHooks", "Pricer"]


class JobHooks(Protocol):
    async def on_created(self, conn: Tx, job: Job, principal: Principal) -> None: ...

    async def on_transition(self, conn: Tx, before: Job, after: Job) -> None: ...


class JobCounters(Protocol):
    """Running totals over every job (the metrics'): told of each change that moved a
    job's state or deleted it, inside that change's transaction. Only the change that
    won its compare-and-swap is told, so each end of a job is counted once."""

    async def on_change(self, conn: Tx, before: Job, after: Job) -> None: ...


class Pricer(Protocol):
    async def quote(
        self, conn: Tx, tenant_id: str, model: str, size: str, seconds: float
    ) -> int:
        """Price in micro-USD of ``seconds`` of video of ``model`` at ``size``."""
        ...


class CatalogPricer:
    """List prices from the catalog, with no per-tenant adjustment."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def quote(
        self, conn: Tx, tenant_id: str, model: str, size: str, seconds: float
    ) -> int:
        return round(self.catalog.list_price(model, size) * seconds)

"""Wiring: builds every component from settings, in one place, with no globals.

The API app, the worker command, the CLI and the tests all start from
:class:`Gateway`, so there is exactly one way the parts are put together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from reelgate.auth.admin_token import admin_token
from reelgate.auth.cache import PrincipalCache
from reelgate.auth.service import KeyService
from reelgate.auth.sessions import AdminSessions
from reelgate.billing import BillingHooks, TablePricer
from reelgate.billing.quote import QuoteService
from reelgate.billing.service import PriceService, TenantService
from reelgate.catalog import Catalog
from reelgate.catalog.availability import Availability
from reelgate.catalog.live import LiveCatalog
from reelgate.catalog.service import CatalogService
from reelgate.characters.service import CharacterService
from reelgate.config import Settings
from reelgate.jobs.hooks import JobHooks
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.jobs.queries import JobQueries
from reelgate.jobs.service import VideoService
from reelgate.limits import KeyPolicyHooks, RateLimiter, limiter_from_url
from reelgate.media.factory import storage_from_url
from reelgate.media.storage import Storage
from reelgate.metrics.totals import JobTotals
from reelgate.metrics.upstream import UpstreamErrorCounts
from reelgate.reporting.dashboard import DashboardService
from reelgate.routing.crypto import SecretBox
from reelgate.routing.local_channel import ensure_local_channel
from reelgate.routing.manage import ChannelService
from reelgate.routing.operations import OperationGate
from reelgate.scheduler.directory import ChannelDirectory
from reelgate.scheduler.refresh import Refresher
from reelgate.scheduler.worker import Worker
from reelgate.store.db import Database
from reelgate.store.migrate import upgrade
from reelgate.webhooks.dispatcher import Dispatcher
from reelgate.webhooks.hooks import WebhookHooks
from reelgate.webhooks.service import WebhookService

__all__ = ["Gateway"]

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    settings: Settings
    db: Database
    storage: Storage
    catalog: Catalog
    box: SecretBox
    directory: ChannelDirectory
    lifecycle: Lifecycle
    videos: VideoService
    worker: Worker
    hooks: list[JobHooks] = field(default_factory=list)
    admin_token: str = ""
    principals: PrincipalCache = field(init=False)
    #: per-key request rates; shared through Redis when REELGATE_REDIS_URL is set
    limiter: RateLimiter = field(init=False)
    pricer: TablePricer = field(init=False)
    webhooks: WebhookService = field(init=False)
    #: sends queued webhook deliveries; runs next to the worker
    dispatcher: Dispatcher = field(init=False)
    # the services the CLI and the admin API share (one set of rules for both)
    keys: KeyService = field(init=False)
    tenants: TenantService = field(init=False)
    prices: PriceService = field(init=False)
    channels: ChannelService = field(init=False)
    #: read-side job queries for operators (admin API and UI)
    job_queries: JobQueries = field(init=False)
    #: the catalog's operator changes (reelgate models, /admin/api/models)
    models: CatalogService = field(init=False)
    #: whether an enabled channel serves a model (listing, and refusing creates at once)
    availability: Availability = field(init=False)
    #: whether a channel can do an operation (edit, extend, characters, remix)
    operations: OperationGate = field(init=False)
    #: characters (POST /v1/videos/characters), made upstream while the client waits
    characters: CharacterService = field(init=False)
    #: what a create would reserve, read only (POST /v1/videos/quote)
    quotes: QuoteService = field(init=False)
    #: admin UI sessions signed out before their cookie expired
    admin_sessions: AdminSessions = field(init=False)
    #: the admin dashboard's aggregates (page and /admin/api/dashboard)
    dashboard: DashboardService = field(init=False)

    @classmethod
    async def start(
        cls, settings: Settings, *, hooks: list[JobHooks] | None = None,
        pricer: TablePricer | None = None,
    ) -> Gateway:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.database_url, pool_size=settings.db_pool_size)
        await upgrade(db)
        storage = storage_from_url(settings.storage_url)
        box = SecretBox.from_settings(settings.secret_key, settings.data_dir)
        catalog = LiveCatalog(db)  # defaults + operator rows, re-read when they change
        await catalog.refresh()
        catalog.start()
        pricer = pricer or TablePricer(catalog)
        # key policy first (403 before 429), then money, then what observes the outcome
        hook_list: list[JobHooks] = [KeyPolicyHooks(), BillingHooks(pricer), *(hooks or []),
                                     WebhookHooks()]
        counters = JobTotals()  # the running totals /metrics reads (store/totals.py)
        lifecycle = Lifecycle(db, hook_list, counters)
        directory = ChannelDirectory(db, box, settings)
        worker = Worker(lifecycle, directory, storage, settings,
                        observer=UpstreamErrorCounts(db))
        videos = VideoService(db, storage, settings, pricer,
                              hook_list, wake_worker=worker.wake, counters=counters)
        gw = cls(settings, db, storage, catalog, box, directory, lifecycle, videos, worker,
                 hook_list, admin_token(settings.admin_token, settings.data_dir))
        videos.cancel_upstream = gw.cancel_upstream
        videos.refresh = Refresher(worker, settings).refresh
        gw.pricer, gw.limiter = pricer, limiter_from_url(settings.redis_url)
        gw.models, gw.quotes = CatalogService(db, catalog), QuoteService(db, pricer)
        gw.availability = Availability(directory.channels)
        gw.operations = OperationGate(directory.channels)
        gw.characters = CharacterService(db, directory, settings)
        if settings.redis_url:  # channel request rates shared by all workers, too
            worker.gate.shared = gw.limiter
        gw.principals = PrincipalCache(settings.auth_cache_seconds)
        gw.webhooks, gw.dispatcher = WebhookService(db), Dispatcher(db, settings)
        gw.keys = KeyService(db, gw.principals)
        gw.admin_sessions = AdminSessions(db)
        gw.tenants, gw.prices = TenantService(db), PriceService(db, pricer)
        gw.channels = ChannelService(db, box, catalog, directory)
        gw.job_queries, gw.dashboard = JobQueries(db), DashboardService(db)
        await gw._ensure_local_channel()
        return gw

    async def _ensure_local_channel(self) -> None:
        """Embedded default: with no channel configured, serve every model locally.

        Once a real channel exists the local one stops taking new jobs (unless kept on
        purpose), so a paying job never silently falls back to the demo renderer.
        """
        async with self.db.begin() as conn:
            await self.db.exclusive(conn, "bootstrap")  # N processes may start at once
            await ensure_local_channel(conn, self.settings.local_channel)

    async def cancel_upstream(self, job: Job) -> None:
        channel = await self.directory.channel(job.channel_id or "")
        if channel is None or not job.upstream_id:
            return
        provider = await self.directory.provider(channel)
        await provider.delete(job.upstream_id, await self.directory.credential(job.credential_id))

    async def bootstrap_key(self, tenant: str = "default", name: str = "default") -> str | None:
        """The first time only: a tenant and a key, so `make serve` is usable at once."""
        created = await self.keys.create_first(tenant, name)
        return created.secret if created else None

    async def readiness(self) -> dict[str, str]:
        """Each dependency a request needs: "ok", or what went wrong with it."""
        checks: dict[str, str] = {}
        for name, check in (("database", self.db.ping), ("storage", self.storage.check)):
            try:
                await check()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"error: {exc.__class__.__name__}"
        return checks

    async def close(self) -> None:
        self.worker.stop()
        if isinstance(self.catalog, LiveCatalog):
            await self.catalog.aclose()
        await self.limiter.aclose()
        await self.dispatcher.aclose()
        await self.directory.aclose()
        await self.storage.aclose()
        await self.db.dispose()

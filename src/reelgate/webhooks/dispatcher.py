"""Sending queued webhook deliveries: lease, sign, POST, record, retry or give up.

Delivery is at least once: a dispatcher that dies mid-POST leaves its lease to run
out and the row is sent again. Failures are retried with exponential backoff and
jitter until the retry window (24 h by default) is over; the row then turns
``dead`` and waits for a manual replay. Any number of dispatchers can share one
database, like workers do.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from typing import Any

import httpx

from reelgate import __version__
from reelgate.config import Settings
from reelgate.ids import now
from reelgate.net.client import PolicySwitch, guarded_client, private_ok
from reelgate.net.ssrf import UnsafeURL, check_url
from reelgate.scheduler.loop import TickLoop
from reelgate.store.db import Database
from reelgate.webhooks import repository as repo
from reelgate.webhooks.signing import signed_headers

__all__ = ["Dispatcher", "retry_delay"]

log = logging.getLogger(__name__)

_ERROR_CHARS = 500


def retry_delay(attempts: int, settings: Settings,
                rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from the base, capped, ±25 %."""
    base = min(settings.webhook_backoff_max_seconds,
               settings.webhook_backoff_base_seconds * 2.0 ** min(max(attempts - 1, 0), 40))
    return base * (rng or random).uniform(0.75, 1.25)


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None


class Dispatcher(TickLoop):
    name = "webhook dispatcher"

    def __init__(self, db: Database, settings: Settings,
                 client: httpx.AsyncClient | None = None) -> None:
        super().__init__(settings.idle_seconds)
        self.drain_seconds = settings.webhook_timeout_seconds + 1
        self.db = db
        self.settings = settings
        self.client = client or guarded_client(transport=PolicySwitch(), headers={
            "user-agent": f"reelgate-webhooks/{__version__}"})

    async def idle_timeout(self) -> float:
        """Sleep until the next retry is due, but never longer than ``idle_seconds``."""
        try:
            async with self.db.read() as conn:
                due = await repo.next_due(conn)
        except Exception:
            log.exception("webhook dispatcher could not read the next due time")
            due = None
        if due is None:
            return self.settings.idle_seconds
        return min(self.settings.idle_seconds, max(0.02, due - now()))

    async def tick(self) -> int:
        """Claim due deliveries and start sending them; returns how many were claimed."""
        free = await self.free_slots(self.settings.webhook_concurrency)
        if not free:
            return 1
        async with self.db.read() as conn:  # look first: an idle dispatcher never writes
            due = await repo.next_due(conn)
        if due is None or due > now():
            return 0
        async with self.db.begin() as conn:
            claimed = await repo.claim_due(conn, limit=free,
                                           lease_seconds=self.settings.webhook_lease_seconds,
                                           skip_locked=not self.db.is_sqlite)
        for delivery in claimed:
            self.spawn(self.deliver(delivery), name=f"deliver:{delivery.id}")
        return len(claimed)

    async def deliver(self, delivery: repo.Delivery) -> None:
        async with self.db.read() as conn:
            endpoint = await repo.get_endpoint(conn, delivery.endpoint_id)
        if endpoint is None or not endpoint.enabled:
            outcome = _Outcome(False, error="endpoint removed or disabled")
        else:
            outcome = await self._post(endpoint, delivery)
        await self._record(delivery, outcome)

    async def _post(self, endpoint: repo.Endpoint, delivery: repo.Delivery) -> _Outcome:
        try:
            await check_url(endpoint.url, allow_private=endpoint.allow_private)
        except UnsafeURL as exc:
            return _Outcome(False, error=f"refused URL: {exc}")
        msg_id = json.loads(delivery.payload).get("id") or delivery.id
        headers = signed_headers(endpoint.secret, msg_id, int(now()), delivery.payload)
        try:
            async with self.client.stream("POST", endpoint.url, content=delivery.payload,
                                          headers=headers,
                                          timeout=self.settings.webhook_timeout_seconds,
                                          extensions=private_ok(endpoint.allow_private)) as resp:
                status = resp.status_code
        except httpx.HTTPError as exc:
            return _Outcome(False, error=f"{exc.__class__.__name__}: {exc}"[:_ERROR_CHARS])
        if 200 <= status < 300:
            return _Outcome(True, status)
        return _Outcome(False, status, f"HTTP {status}")

    async def _record(self, delivery: repo.Delivery, outcome: _Outcome) -> None:
        t = now()
        attempts = delivery.attempts + 1
        values: dict[str, Any] = dict(attempts=attempts, last_status_code=outcome.status_code,
                                      last_error=outcome.error)
        extra = {"job_id": delivery.job_id}
        if outcome.ok:
            values.update(status=repo.DELIVERED, delivered_at=t, next_attempt_at=None)
            log.info("webhook %s %s delivered", delivery.id, delivery.event_type, extra=extra)
        else:
            due = t + retry_delay(attempts, self.settings)
            if due > delivery.created_at + self.settings.webhook_max_age_seconds:
                values.update(status=repo.DEAD, next_attempt_at=None)
                log.warning("webhook %s %s dead after %d attempts: %s", delivery.id,
                            delivery.event_type, attempts, outcome.error, extra=extra)
            else:
                values.update(next_attempt_at=due)
                log.info("webhook %s %s attempt %d failed: %s", delivery.id,
                         delivery.event_type, attempts, outcome.error, extra=extra)
        async with self.db.begin() as conn:
            if not await repo.finish(conn, delivery, **values):
                log.warning("webhook %s: lease lost, outcome dropped", delivery.id, extra=extra)
        self._wake.set()  # a retry may now be due sooner than the idle sleep

    async def aclose(self) -> None:
        self.stop()
        await self.client.aclose()

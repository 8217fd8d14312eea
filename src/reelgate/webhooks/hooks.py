"""The webhook outbox as a :class:`~reelgate.jobs.hooks.JobHooks`.

Runs inside the job's own transaction: the delivery rows commit together with the
state change they describe, or not at all. Nothing is sent from here; dispatchers
pick the rows up.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.auth.principal import Principal
from reelgate.jobs.model import Job
from reelgate.webhooks import repository as repo
from reelgate.webhooks.events import Event, created_event, transition_event

__all__ = ["WebhookHooks"]


class WebhookHooks:
    async def on_created(self, conn: AsyncConnection, job: Job, principal: Principal) -> None:
        await self._enqueue(conn, job.tenant_id, created_event(job))

    async def on_transition(self, conn: AsyncConnection, before: Job, after: Job) -> None:
        event = transition_event(before, after)
        if event is not None:
            await self._enqueue(conn, after.tenant_id, event)

    async def _enqueue(self, conn: AsyncConnection, tenant_id: str, event: Event) -> None:
        """One statement whatever the number of endpoints, none included: the lookup and
        the inserts are a single ``INSERT ... SELECT`` (no cache that could miss an
        endpoint another process just added, or name one it just removed)."""
        await repo.enqueue_for_tenant(conn, tenant_id=tenant_id, job_id=event.job_id,
                                      event_type=event.type, dedupe=event.dedupe,
                                      payload=event.payload())

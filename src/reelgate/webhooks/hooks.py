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
        endpoints = [e for e in await repo.endpoints_for(conn, tenant_id)
                     if event.type in e.events]
        if not endpoints:
            return
        payload = event.payload()
        for endpoint in endpoints:
            await repo.enqueue(conn, endpoint_id=endpoint.id, job_id=event.job_id,
                               event_type=event.type, event_key=event.key(endpoint.id),
                               payload=payload)

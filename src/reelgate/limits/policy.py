"""Per-key rules checked when a job is created: the model allow-list and in-flight cap.

Runs as a :class:`reelgate.jobs.hooks.JobHooks` inside the create transaction, after
the job row is written, so the count of in-flight jobs includes the new one and a
refusal rolls it back. On PostgreSQL the tenant's row is locked first (billing takes
the same lock next, in the same order as settlements do, so nothing can deadlock),
so two creates of one key in two processes cannot both see room for one more; SQLite
write transactions are serialised already.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.auth.principal import Principal
from reelgate.billing.errors import InFlightLimit, ModelNotAllowed
from reelgate.jobs import repository as jobs_repo
from reelgate.jobs.model import Job
from reelgate.store.tables import tenants

__all__ = ["KeyPolicyHooks"]


class KeyPolicyHooks:
    """Implements :class:`reelgate.jobs.hooks.JobHooks`."""

    async def on_created(self, conn: AsyncConnection, job: Job, principal: Principal) -> None:
        allowed = principal.allowed_models
        if allowed is not None and job.model not in allowed:
            raise ModelNotAllowed(f"This API key may not use model '{job.model}'. "
                                  f"Allowed: {', '.join(allowed)}.")
        cap = principal.max_in_flight
        if cap is None:
            return
        if conn.dialect.name == "postgresql":
            # NO KEY UPDATE: the same lock as billing's balance UPDATE; a plain FOR UPDATE
            # would conflict with the key-share locks of concurrent job inserts (their
            # foreign key to tenants) and deadlock
            await conn.execute(select(tenants.c.id).where(tenants.c.id == job.tenant_id)
                               .with_for_update(key_share=True))
        running = await jobs_repo.count_active(conn, key_id=principal.key_id)
        if running > cap:
            raise InFlightLimit(f"This API key already has {cap} unfinished video job(s), "
                                "its limit. Wait for one to finish and try again.",
                                headers={"retry-after": "5"})

    async def on_transition(self, conn: AsyncConnection, before: Job, after: Job) -> None:
        return None

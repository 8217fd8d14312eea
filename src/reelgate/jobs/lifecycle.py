"""Moving a job between states together with everything that must move with it.

One transaction holds the compare-and-swap and the hooks (billing, webhooks), so a
job can never be completed without being settled or failed without being refunded,
and a lost race changes nothing at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reelgate.jobs import repository as repo
from reelgate.jobs.hooks import JobHooks
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.store.db import Database

__all__ = ["Lifecycle"]


class Lifecycle:
    def __init__(self, db: Database, hooks: Sequence[JobHooks] = ()) -> None:
        self.db = db
        self.hooks = list(hooks)

    async def move(
        self, job: Job, state: State | None = None, *, event: str | None = None, **changes: Any
    ) -> Job | None:
        """Apply the change if nobody else changed the job first; None if we lost."""
        async with self.db.begin() as conn:
            after = await repo.transition(conn, job, state, event=event, **changes)
            if after is not None and (after.state != job.state or after.progress != job.progress):
                for hook in self.hooks:
                    await hook.on_transition(conn, job, after)
        return after

    async def reload(self, job_id: str) -> Job | None:
        async with self.db.read() as conn:
            return await repo.get(conn, job_id, include_deleted=True)

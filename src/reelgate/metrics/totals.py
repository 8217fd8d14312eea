"""What a job's end (or delete) adds to the running totals /metrics reads.

A finished job never changes again in anything the metrics report (state, model,
channel, error code, polls, times), so it is counted once, when the compare-and-swap
that finished it wins, in that transaction: live jobs by final state, failures by
channel and code, its polls, its time to complete in the histogram's bucket. Jobs
still running are few and read at scrape time through an index (``finished_at`` is
NULL until the end). Money is counted by billing, beside the ledger row it writes.
"""

from __future__ import annotations

from reelgate.jobs.model import Job
from reelgate.jobs.states import ACTIVE, TERMINAL, State
from reelgate.store import totals
from reelgate.store.db import Tx
from reelgate.store.totals import Count

__all__ = ["DURATION_BUCKETS", "JobTotals", "bucket_label", "counts_for"]

#: seconds from create to completed (the histogram's bounds; migration 0012 filled the
#: totals with these: a new bound needs the buckets recounted)
DURATION_BUCKETS: tuple[float, ...] = (5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200)


def bucket_label(seconds: float) -> str:
    """The smallest bound ``seconds`` is within, as the totals' label ("+Inf" beyond)."""
    for bound in DURATION_BUCKETS:
        if seconds <= bound:
            return f"{bound:g}"
    return "+Inf"


def _ended(job: Job) -> list[Count]:
    chan = job.channel_id or ""
    counts = [Count("polls", channel_id=chan, count=1, amount=job.poll_count)]
    if job.deleted_at is None:  # a delete fails a running job and hides it at once
        counts.append(Count("jobs", model=job.model, channel_id=chan, label=job.state.value,
                            count=1))
    if job.state == State.FAILED:
        counts.append(Count("failures", channel_id=chan, label=job.error_code or "",
                            count=1))
    elif job.completed_at is not None:
        took = job.completed_at - job.created_at
        counts.append(Count("duration", model=job.model, label=bucket_label(took), count=1,
                            amount=round(took * 1_000_000)))
    return counts


def counts_for(before: Job, after: Job) -> list[Count]:
    """What the change ``before`` → ``after`` adds (nothing for most changes)."""
    if before.state in ACTIVE and after.state in TERMINAL:
        return _ended(after)
    if before.state in TERMINAL and before.deleted_at is None and after.deleted_at is not None:
        return [Count("jobs", model=before.model, channel_id=before.channel_id or "",
                      label=before.state.value, count=-1)]
    if after.poll_count < before.poll_count:  # the upstream forgot it: sent again from 0
        return [Count("polls", channel_id=before.channel_id or "",
                      amount=before.poll_count)]  # the polls it took stay counted
    return []


class JobTotals:
    """Implements :class:`reelgate.jobs.hooks.JobCounters`."""

    async def on_change(self, conn: Tx, before: Job, after: Job) -> None:
        await totals.add(conn, counts_for(before, after))

"""Which job changes become which webhook events, and what those events look like.

Payloads follow OpenAI's event shape, ``{"id": "evt_…", "object": "event",
"created_at": int, "type": "video.completed", "data": {"id": "video_…"}}``: only the
video id is sent and the receiver fetches the rest. ``video.progress`` (opt-in) also
carries the public status and progress, so a receiver can draw a bar without a call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from reelgate.ids import new_id
from reelgate.jobs.model import Job
from reelgate.jobs.states import State

__all__ = [
    "ALL_EVENTS",
    "DEFAULT_EVENTS",
    "Event",
    "created_event",
    "parse_events",
    "transition_event",
]

COMPLETED = "video.completed"
FAILED = "video.failed"
CREATED = "video.created"
PROGRESS = "video.progress"
ALL_EVENTS: tuple[str, ...] = (COMPLETED, FAILED, CREATED, PROGRESS)
#: what OpenAI sends for videos; the other two must be asked for
DEFAULT_EVENTS: tuple[str, ...] = (COMPLETED, FAILED)


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    job_id: str
    created_at: int
    #: distinguishes this event from every other one of the same job and type
    dedupe: str
    data: dict[str, Any]

    def payload(self) -> str:
        body = {"id": self.id, "object": "event", "created_at": self.created_at,
                "type": self.type, "data": self.data}
        return json.dumps(body, separators=(",", ":"))

    def key(self, endpoint_id: str) -> str:
        """Unique per endpoint and event: enqueueing the same event twice is a no-op."""
        return f"{endpoint_id}:{self.job_id}:{self.dedupe}"


def _event(job: Job, type_: str, at: float, dedupe: str, **extra: Any) -> Event:
    return Event(new_id("evt"), type_, job.id, int(at), dedupe, {"id": job.id, **extra})


def created_event(job: Job) -> Event:
    return _event(job, CREATED, job.created_at, CREATED)


def transition_event(before: Job, after: Job) -> Event | None:
    """The event for a state change, or None when the change is not worth telling."""
    if after.state == State.COMPLETED:
        return _event(after, COMPLETED, after.updated_at, COMPLETED)
    if after.state == State.FAILED:
        return _event(after, FAILED, after.updated_at, FAILED)
    # progress ticks within a state are told in steps of 10 %, so a receiver is not flooded
    same_step = after.progress // 10 == before.progress // 10
    if after.state == before.state and (after.status != "in_progress" or same_step):
        return None
    # one per version: a job can pass through the same state twice (a rejected submit)
    return _event(after, PROGRESS, after.updated_at, f"{PROGRESS}:v{after.version}",
                  status=after.status, progress=0 if after.status == "queued" else after.progress)


def parse_events(raw: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Normalise a comma list or a list; raise ValueError naming an unknown type."""
    if raw is None:
        return DEFAULT_EVENTS
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    out: list[str] = []
    for item in items:
        name = item.strip() if isinstance(item, str) else item
        if not isinstance(name, str) or name not in ALL_EVENTS:
            raise ValueError(f"unknown event type {name!r}; choose from {', '.join(ALL_EVENTS)}")
        if name not in out:
            out.append(name)
    if not out:
        raise ValueError("at least one event type is needed")
    return tuple(out)

"""Job → the OpenAI ``video`` object, and the poll-interval hint."""

from __future__ import annotations

from typing import Any

from reelgate.ids import now
from reelgate.jobs.model import Job
from reelgate.jobs.states import State

__all__ = ["deleted_object", "poll_after_ms", "video_object"]


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def video_object(job: Job) -> dict[str, Any]:
    completed = job.state == State.COMPLETED
    status = job.status
    return {
        "id": job.id,
        "object": "video",
        "model": job.model_alias or job.model,  # what the client asked for (a snapshot)
        "status": status,
        "progress": 100 if completed else (0 if status == "queued" else job.progress),
        "created_at": int(job.created_at),
        "completed_at": int(job.completed_at) if completed and job.completed_at else None,
        "expires_at": int(job.expires_at) if completed and job.expires_at else None,
        "size": (job.rendered_size or job.size) if completed else job.size,
        "seconds": _seconds(job.rendered_seconds or job.seconds) if completed
        else str(job.seconds),
        "quality": job.quality,
        "prompt": job.prompt,
        "remixed_from_video_id": job.remixed_from,
        "error": ({"code": job.error_code or "failed", "message": job.error_message or ""}
                  if job.state == State.FAILED else None),
        # set when the client asked for a retired model and its successor renders the job
        "redirected_from_model": job.requested_model,
    }


def deleted_object(job_id: str) -> dict[str, Any]:
    return {"id": job_id, "object": "video.deleted", "deleted": True}


def poll_after_ms(job: Job) -> int | None:
    """How long a polling client should wait: about when we expect news."""
    if job.is_terminal:
        return None
    if job.next_poll_at is None:
        return 1000
    return int(min(10.0, max(0.5, job.next_poll_at - now() + 0.1)) * 1000)

"""A job as the services see it: an immutable snapshot of one ``jobs`` row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reelgate.jobs.states import State, public_status
from reelgate.media.objects import StoredObject

__all__ = ["Job"]


@dataclass(frozen=True)
class Job:
    id: str
    tenant_id: str
    key_id: str
    model: str
    prompt: str
    size: str
    seconds: int
    quality: str
    state: State
    progress: int
    version: int
    created_at: float
    updated_at: float
    started_at: float | None
    completed_at: float | None
    expires_at: float | None
    deleted_at: float | None
    remixed_from: str | None
    reference_key: str | None
    reference_mime: str | None
    channel_id: str | None
    credential_id: str | None
    upstream_model: str | None
    upstream_id: str | None
    upstream_status: str | None
    result_url: str | None
    error_code: str | None
    error_message: str | None
    next_poll_at: float | None
    poll_count: int
    last_polled_at: float | None
    lease_owner: str | None
    lease_until: float | None
    submit_attempts: int
    rendered_seconds: float | None
    rendered_size: str | None
    media: dict[str, StoredObject]
    price_micros: int
    charged_micros: int | None
    idempotency_key: str | None
    request_hash: str | None
    #: the retired model the client asked for, when ``model`` is its successor
    requested_model: str | None = None
    #: the reference image's size as measured when it arrived (None: no reference)
    reference_width: int | None = None
    reference_height: int | None = None
    #: when the job reached its final state (completed or failed)
    finished_at: float | None = None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        data = dict(row._mapping)
        data["state"] = State(data["state"])
        data["media"] = {k: StoredObject.from_json(v) for k, v in (data.get("media") or {}).items()}
        return cls(**data)

    @property
    def status(self) -> str:
        return public_status(self.state, self.upstream_status)

    @property
    def is_terminal(self) -> bool:
        return self.state in (State.COMPLETED, State.FAILED)

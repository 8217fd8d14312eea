"""A job as the services see it: an immutable snapshot of one ``jobs`` row."""

from __future__ import annotations

from dataclasses import dataclass, fields
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
    #: create (None), remix, edit or extend
    operation: str | None = None
    #: the job an edit or extension was made from, by id (it may be deleted since)
    source_id: str | None = None
    #: this job's own copy of its source clip, under its media prefix
    source_key: str | None = None
    #: an extension's new segment; ``seconds`` is the stitched total
    segment_seconds: int | None = None
    #: extensions in this job's chain, itself included
    extensions: int | None = None
    #: characters named by the create: [{"id": ..., "upstream_id": ...}]
    characters: list[dict[str, str]] | None = None
    #: the alias (dated snapshot) the client asked for, echoed as the video's model
    model_alias: str | None = None
    #: GPU time of the render as the upstream measured it
    render_seconds: float | None = None
    #: billed by GPU time: the seconds the reservation paid for (None: by video seconds)
    render_cap_seconds: int | None = None
    #: the last refused submit (channel name and id, reason, error kind, status, at):
    #: why a queued job is not running yet; operators see it, the client's object not
    last_refusal: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        """The job a whole ``jobs`` row describes.

        A frozen dataclass's ``__init__`` sets its 55 fields one ``object.__setattr__``
        at a time (25 us, most of a poll's own CPU after the HTTP client's); a row that
        has exactly the fields is copied in at once instead. Any other row takes the
        checked way, so a missing or unknown column still fails loudly. ``row``: a
        SQLAlchemy row, or the mapping a :class:`reelgate.store.direct.Direct` returns.
        """
        data = dict(row) if isinstance(row, dict) else dict(row._mapping)
        data["state"] = State(data["state"])
        data["media"] = {k: StoredObject.from_json(v) for k, v in (data.get("media") or {}).items()}
        if data.keys() != _FIELDS:
            return cls(**data)
        job = object.__new__(cls)
        job.__dict__.update(data)
        return job

    @property
    def status(self) -> str:
        return public_status(self.state, self.upstream_status)

    @property
    def billed_seconds(self) -> int:
        """What the create is priced on: an extension's new segment, else the length."""
        return self.segment_seconds or self.seconds

    @property
    def pinned(self) -> bool:
        """Bound to one channel and key from the start: a remix, an edit or extension
        of a job by id (same upstream), a create naming characters (known there)."""
        return bool(self.remixed_from or self.source_id or self.characters)

    @property
    def lineage(self) -> str | None:
        """The job this one was made from (remix, edit or extension), if any."""
        return self.source_id or self.remixed_from

    @property
    def is_terminal(self) -> bool:
        return self.state in (State.COMPLETED, State.FAILED)


#: the names of a job's fields, which a whole row's columns match
_FIELDS = frozenset(f.name for f in fields(Job))

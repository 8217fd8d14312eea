"""The one narrow interface every upstream implements.

A provider translates between reelgate's neutral job description and one upstream's
wire protocol. It knows nothing of billing, the database, tenants or HTTP handlers of
our own API: it receives plain data plus the credential to use and returns plain data,
raising :class:`UpstreamError` (with a kind that says whether the job could have been
accepted) when the upstream misbehaves.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from reelgate.catalog.spec import Operation
from reelgate.media.images import ReferenceImage

__all__ = [
    "BASIC_OPERATIONS",
    "ChannelSpec",
    "CharacterMaker",
    "Credential",
    "ErrorKind",
    "Operation",
    "Provider",
    "ReferenceImage",
    "SourceVideo",
    "SubmitRequest",
    "UpstreamError",
    "UpstreamJob",
    "UpstreamStatus",
    "Variant",
]


class UpstreamStatus(enum.StrEnum):
    """The only four states reelgate exposes; each provider maps its vocabulary here."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


class Variant(enum.StrEnum):
    VIDEO = "video"
    THUMBNAIL = "thumbnail"
    SPRITESHEET = "spritesheet"

    @property
    def filename(self) -> str:
        """Its file in our storage (and in the local renderer's job folders)."""
        return f"{self.value}.{self.extension}"

    @property
    def extension(self) -> str:
        return "mp4" if self is Variant.VIDEO else "webp"

    @property
    def content_type(self) -> str:
        """The type of our own copy when we make it (images we derive are WEBP)."""
        return "video/mp4" if self is Variant.VIDEO else "image/webp"


class ErrorKind(enum.StrEnum):
    """What an upstream failure means for the job, which decides failover and refunds."""

    REJECTED = "rejected"  # the upstream refused this job (4xx): failing it is final
    RATE_LIMITED = "rate_limited"  # 429: certainly not accepted; back off or fail over
    UNAVAILABLE = "unavailable"  # refused connection / 5xx with no job id: not accepted
    AUTH = "auth"  # this credential is bad: try the next credential
    AMBIGUOUS = "ambiguous"  # sent, no answer: the upstream may have accepted the job
    NOT_FOUND = "not_found"  # the upstream does not know this job (or asset)
    PROTOCOL = "protocol"  # the upstream answered something we cannot read


@dataclass(frozen=True)
class Credential:
    """One upstream key; ``id`` is the stable reference stored on each job."""

    id: str
    secret: str


@dataclass(frozen=True)
class ChannelSpec:
    """What a provider needs to know about the channel it talks through."""

    id: str
    name: str
    provider: str
    base_url: str
    options: Mapping[str, Any] = field(default_factory=dict)


#: what a provider that declares nothing can do
BASIC_OPERATIONS = frozenset({Operation.CREATE, Operation.IMAGE_REFERENCE})


@dataclass(frozen=True)
class SourceVideo:
    """The clip an edit or extension starts from.

    ``path`` is a local copy (a scratch file the caller deletes after the submit; read
    it by streaming, it may be large); ``upstream_id`` is the source's id on this same
    channel when it has one there, so an upstream that knows it can be sent the id
    instead of the bytes.
    """

    path: Path
    seconds: float
    upstream_id: str | None = None


@dataclass(frozen=True)
class SubmitRequest:
    """A job as the upstream should see it; ``job_id`` is our own id (a client reference).

    ``operation`` is ``create`` (also with characters), ``remix`` (``remix_of``), ``edit``
    or ``extend`` (``source``); for an extension ``seconds`` is the new segment only.
    """

    job_id: str
    model: str
    prompt: str
    size: str
    seconds: int
    reference: ReferenceImage | None = None
    remix_of: str | None = None  # the *upstream* id of the source job, same channel
    operation: Operation = Operation.CREATE
    source: SourceVideo | None = None
    #: the upstream ids of the characters the video shows (created on this channel)
    characters: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return int(self.size.split("x")[0])

    @property
    def height(self) -> int:
        return int(self.size.split("x")[1])


@dataclass(frozen=True)
class UpstreamJob:
    """An upstream's view of a job, already mapped to reelgate's vocabulary."""

    upstream_id: str
    status: UpstreamStatus
    progress: int | None = None
    raw_status: str = ""
    seconds: float | None = None  # what the upstream says it rendered
    size: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    result_url: str | None = None  # some upstreams hand out a (short-lived) URL
    poll_after: float | None = None  # seconds, when the upstream hints at it
    #: GPU time of the render by the upstream's own clock (self-hosted servers)
    render_seconds: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def failed(self, code: str, message: str) -> UpstreamJob:
        """This job as a failure: what it was called and rendered is kept; progress,
        result link and hints are dropped (a failed job has none to act on)."""
        return UpstreamJob(self.upstream_id, UpstreamStatus.FAILED, raw_status=self.raw_status,
                           seconds=self.seconds, size=self.size, error_code=code,
                           error_message=message, extra=self.extra)


class UpstreamError(Exception):
    """An upstream call failed; ``kind`` says what that means for the job."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        never_started: bool = False,
        transport: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status_code = status_code
        self.code = code
        self.retry_after = retry_after
        #: with NOT_FOUND: the upstream lost the job before it ever started rendering it
        #: (a restarted server forgot its queue), so sending it elsewhere renders it once
        self.never_started = never_started
        #: no HTTP answer at all: "timeout" or "connection" (what the metrics count)
        self.transport = transport

    @property
    def accepted_impossible(self) -> bool:
        """True when the upstream certainly did not take the job, so failover is safe."""
        return self.kind in (ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE, ErrorKind.AUTH)

    def __repr__(self) -> str:
        return f"UpstreamError({self.kind.value}, {self.message!r}, status={self.status_code})"


@runtime_checkable
class CharacterMaker(Protocol):
    """A provider that can create characters (``Operation.CHARACTERS``)."""

    async def create_character(self, name: str, clip: Path, credential: Credential) -> str:
        """Register the character shown in ``clip``; returns the upstream's id for it.
        Raises :class:`UpstreamError` (``accepted_impossible`` when another key or
        channel may be tried)."""
        ...


@runtime_checkable
class Provider(Protocol):
    """One upstream protocol. Instances are per channel and hold an HTTP client."""

    #: registry name, e.g. "openai", "veo", "seedance", "local"
    name: str
    #: whether :meth:`submit` understands ``remix_of``
    supports_remix: bool
    # A provider may also declare ``operations`` (a frozenset of :class:`Operation`, or
    # ``operations_for(options)`` when it depends on the channel): what it can do. One
    # that declares nothing can do :data:`BASIC_OPERATIONS`, and remix if it says so.
    #: variants the upstream can serve itself; the rest are derived from the video
    native_variants: frozenset[Variant]

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        """Start a job. Must raise AMBIGUOUS if the request may have been accepted."""
        ...

    async def fetch(self, upstream_id: str, credential: Credential) -> UpstreamJob:
        """Current state of a job, mapped to :class:`UpstreamStatus`."""
        ...

    def download(
        self, job: UpstreamJob, variant: Variant, credential: Credential
    ) -> AsyncIterator[bytes]:
        """Stream the bytes of a finished job's asset; never buffer the whole file."""
        ...

    async def delete(self, upstream_id: str, credential: Credential) -> None:
        """Cancel or delete the job upstream; NOT_FOUND may be ignored by callers."""
        ...

    async def recover(self, job_id: str, credential: Credential) -> UpstreamJob | None:
        """After a crash mid-submit: find the job by our id, or None if unknowable."""
        ...

    async def check(self, credential: Credential) -> str | None:
        """A cheap authenticated call; raise :class:`UpstreamError` unless URL and key work.
        May return a one-line health summary (a self-hosted server's GPU and queue)."""
        ...

    async def aclose(self) -> None: ...

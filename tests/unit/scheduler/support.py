"""One worker's driver over a real SQLite database and real local storage, talking to
a scripted fake provider object instead of an upstream."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from cryptography.fernet import Fernet
from sqlalchemy import event, select

from reelgate.config import Settings
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.media.local import LocalStorage
from reelgate.providers.base import (
    ChannelSpec,
    Credential,
    ErrorKind,
    SubmitRequest,
    UpstreamError,
    UpstreamJob,
    UpstreamStatus,
    Variant,
)
from reelgate.routing import channels as chrepo
from reelgate.routing.crypto import SecretBox
from reelgate.scheduler.directory import ChannelDirectory
from reelgate.scheduler.driver import Driver
from reelgate.store.db import Database
from reelgate.store.tables import job_events
from tests.unit.jobs.support import insert_job

__all__ = ["FakeProvider", "Rig", "mp4", "refused", "running"]

Answer = UpstreamJob | UpstreamError


def mp4(width: int = 160, height: int = 96, frames: int = 24) -> bytes:
    """A real, decodable H.264 MP4 of flat grey frames (one second at 24 fps)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 128, np.uint8),
                                               format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 24)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def running(upstream_id: str = "up_1", progress: int = 10, **kw: Any) -> UpstreamJob:
    return UpstreamJob(upstream_id, UpstreamStatus.IN_PROGRESS, progress=progress,
                       raw_status="in_progress", **kw)


def refused(kind: ErrorKind, status: int | None = None, **kw: Any) -> UpstreamError:
    return UpstreamError(kind, f"refused ({kind.value})", status_code=status, **kw)


@dataclass
class FakeProvider:
    """Answers each call with the next scripted answer (a result or an error to raise)
    and records every call."""

    channel: ChannelSpec
    name: str = "fake"
    supports_remix: bool = True
    native_variants: frozenset[Variant] = frozenset()
    submits: list[Answer] = field(default_factory=list)
    fetches: list[Answer] = field(default_factory=list)
    recovers: list[UpstreamJob | None] = field(default_factory=list)
    #: bytes per variant, or an error to raise when it is downloaded
    files: dict[Variant, bytes | UpstreamError] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    #: runs inside submit, before it answers (to race the step)
    during_submit: Callable[[], Any] | None = None

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        self.calls.append(("submit", (request, credential.id)))
        if self.during_submit is not None:
            await self.during_submit()
        return _answer(self.submits.pop(0))

    async def fetch(self, upstream_id: str, credential: Credential) -> UpstreamJob:
        self.calls.append(("fetch", (upstream_id, credential.id)))
        return _answer(self.fetches.pop(0))

    async def download(self, job: UpstreamJob, variant: Variant,
                       credential: Credential) -> AsyncIterator[bytes]:
        self.calls.append(("download", (job, variant)))
        data = self.files.get(variant, UpstreamError(ErrorKind.NOT_FOUND, "no such asset"))
        if isinstance(data, UpstreamError):
            raise data
        for start in range(0, len(data), 4096):
            yield data[start:start + 4096]

    async def delete(self, upstream_id: str, credential: Credential) -> None:
        self.calls.append(("delete", upstream_id))

    async def recover(self, job_id: str, credential: Credential) -> UpstreamJob | None:
        self.calls.append(("recover", job_id))
        return self.recovers.pop(0)

    async def check(self, credential: Credential) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def called(self, name: str) -> list[Any]:
        return [args for call, args in self.calls if call == name]


def _answer(answer: Answer) -> UpstreamJob:
    if isinstance(answer, UpstreamError):
        raise answer
    return answer


class Rig:
    """A database, storage, channels with fake providers, and the driver under test."""

    def __init__(self, db: Database, tmp_path: Path) -> None:
        self.db = db
        self.box = SecretBox(Fernet.generate_key())
        self.settings = Settings(data_dir=tmp_path, database_url=db.url, worker_id="w1",
                                 local_channel="off", poll_min_seconds=2.0,
                                 poll_max_seconds=30.0)
        self.providers: dict[str, FakeProvider] = {}
        self.directory = ChannelDirectory(db, self.box, self.settings,
                                          factory=self._provider, ttl=0.0)
        self.storage = LocalStorage(tmp_path / "media")
        self.lifecycle = Lifecycle(db)
        self.driver = Driver(self.lifecycle, self.directory, self.storage, self.settings)

    def _provider(self, channel: Any) -> FakeProvider:
        return self.providers.setdefault(channel.name, FakeProvider(channel.spec))

    async def add_channel(self, name: str, *, keys: int = 1, priority: int = 0,
                          **options: Any) -> tuple[str, list[str]]:
        async with self.db.begin() as conn:
            cid = await chrepo.add_channel(conn, name=name, provider="fake", priority=priority,
                                           base_url=f"https://{name}.invalid", **options)
            creds = [await chrepo.add_credential(conn, self.box, cid, f"sk-{name}-{i}",
                                                 f"key{i}") for i in range(keys)]
        self.providers[name] = FakeProvider(ChannelSpec(cid, name, "fake", ""))
        return cid, creds

    def fake(self, name: str) -> FakeProvider:
        return self.providers[name]

    async def job(self, state: State = State.QUEUED, **values: Any) -> Job:
        return await insert_job(self.db, state, lease_owner="w1", lease_until=10**10,
                                **values)

    async def step(self, job: Job) -> Job:
        """One driver step the way the worker runs it; the job as it is afterwards."""
        channel = await self.directory.channel(job.channel_id) if job.channel_id else None
        await self.driver.step(job, channel)
        latest = await self.lifecycle.reload(job.id)
        assert latest is not None
        return latest

    async def step_counting(self, job: Job) -> tuple[Job, int]:
        """:meth:`step`, and how many write transactions it opened."""
        begins: list[object] = []

        def count(*_: object) -> None:
            begins.append(object())

        event.listen(self.db.engine.sync_engine, "begin", count)
        try:
            channel = await self.directory.channel(job.channel_id) if job.channel_id else None
            await self.driver.step(job, channel)
        finally:
            event.remove(self.db.engine.sync_engine, "begin", count)
        latest = await self.lifecycle.reload(job.id)
        assert latest is not None
        return latest, len(begins)

    async def events(self, job_id: str) -> list[str]:
        async with self.db.read() as conn:
            rows = (await conn.execute(select(job_events.c.kind)
                                       .where(job_events.c.job_id == job_id)
                                       .order_by(job_events.c.id))).all()
        return [r.kind for r in rows]

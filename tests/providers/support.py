"""Test harness: a fake upstream on loopback plus the provider under test pointed at it."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import av

from reelgate.providers.base import (
    ChannelSpec,
    Credential,
    Provider,
    ReferenceImage,
    SubmitRequest,
    UpstreamJob,
    UpstreamStatus,
    Variant,
)
from reelgate.providers.registry import create_provider
from tests.fakes import FakeServer, FakeUpstream

KEY_A = Credential("cred-a", "sk-test-1")
KEY_B = Credential("cred-b", "sk-test-2")
BAD_KEY = Credential("cred-x", "sk-revoked")
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
REFERENCE = ReferenceImage(PNG_BYTES, "image/png", 1280, 720)
TERMINAL = (UpstreamStatus.COMPLETED, UpstreamStatus.FAILED)


@dataclass
class Harness:
    fake: FakeUpstream
    server: FakeServer
    provider: Provider
    channel: ChannelSpec

    async def until_done(
        self, job: UpstreamJob, credential: Credential = KEY_A, timeout: float = 10.0
    ) -> tuple[UpstreamJob, list[UpstreamJob]]:
        """Poll until a terminal state; returns the last view and every view seen."""
        seen: list[UpstreamJob] = []
        async with asyncio.timeout(timeout):
            while job.status not in TERMINAL:
                await asyncio.sleep(0.05)
                job = await self.provider.fetch(job.upstream_id, credential)
                seen.append(job)
        return job, seen

    async def download(
        self, job: UpstreamJob, variant: Variant = Variant.VIDEO, credential: Credential = KEY_A
    ) -> bytes:
        chunks = [chunk async for chunk in self.provider.download(job, variant, credential)]
        return b"".join(chunks)


@asynccontextmanager
async def harness(
    fake: FakeUpstream, provider: str, *, base_url: str | None = None, **options: Any
) -> AsyncIterator[Harness]:
    """Run ``fake``, build the provider for it, and insist no call used a foreign key.

    The fakes' "CDN" hosts are loopback too, so the channel opts in to private
    addresses unless the test says ``allow_private_network=False``.
    """
    fake.complete_after = options.pop("complete_after", 0.3)
    options.setdefault("allow_private_network", True)
    with FakeServer(fake) as server:
        url = base_url or fake.base_url(server.url)
        channel = ChannelSpec("ch-1", "test-channel", provider, url, options)
        instance = create_provider(channel)
        try:
            yield Harness(fake, server, instance, channel)
        finally:
            await instance.aclose()
    assert fake.wrong_key == [], fake.wrong_key


def request(
    prompt: str = "a red fox in the snow",
    *,
    size: str = "1280x720",
    seconds: int = 4,
    model: str = "model-x",
    reference: ReferenceImage | None = None,
    remix_of: str | None = None,
) -> SubmitRequest:
    return SubmitRequest("job-1", model, prompt, size, seconds, reference, remix_of)


def probe_mp4(data: bytes) -> tuple[int, int, float]:
    """(width, height, seconds) of an MP4, proving the bytes decode."""
    container = av.open(io.BytesIO(data))
    assert isinstance(container, av.container.InputContainer)
    with container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert frames > 0
        duration = container.duration / 1_000_000 if container.duration else 0.0
        return stream.width, stream.height, duration


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port

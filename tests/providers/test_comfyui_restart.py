"""A ComfyUI server that dies and comes back empty: which prompts may be sent again.

Only a prompt with proof it never started may be resent: the server was seen holding
it pending while our websocket was open, and no start of it was heard on that socket
before the server ended it. A prompt that was running (or may have been) is only ever
"not found", never resent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from reelgate.providers.base import (
    ChannelSpec,
    Credential,
    ErrorKind,
    SubmitRequest,
    UpstreamError,
    UpstreamStatus,
)
from reelgate.providers.comfyui.provider import ComfyUIProvider
from reelgate.providers.registry import create_provider
from tests.fakes import FakeServer
from tests.fakes.comfyui_fake import ComfyUIFake, RenderLog
from tests.support.comfyui import MODEL, workflows_option

NONE = Credential("cred-none", "none")


@dataclass
class Box:
    """One GPU box whose ComfyUI can be killed and started again on the same port."""

    fake: ComfyUIFake
    server: FakeServer
    provider: ComfyUIProvider
    log: RenderLog

    def kill(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        self.fake = ComfyUIFake(name="gpu-restarted", render_seconds=0.2, render_log=self.log)
        self.server = FakeServer(self.fake, port=self.server.port).start()


@asynccontextmanager
async def box(**options: object) -> AsyncIterator[Box]:
    log = RenderLog()
    fake = ComfyUIFake(name="gpu", render_seconds=30.0, render_log=log)
    server = FakeServer(fake).start()
    channel = ChannelSpec("ch-1", "gpu", "comfyui", server.url, {
        "workflows": workflows_option(), "queue_limit": 0, "allow_private_network": True,
        **options})
    provider = create_provider(channel)
    assert isinstance(provider, ComfyUIProvider)
    b = Box(fake, server, provider, log)
    try:
        yield b
    finally:
        await provider.aclose()
        b.server.stop()


def _request(job_id: str) -> SubmitRequest:
    return SubmitRequest(job_id, MODEL, f"a fox, {job_id}", "832x480", 2)


async def _until(condition: object, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not callable(condition) or not condition():
            await asyncio.sleep(0.02)


async def _lost(b: Box, upstream_id: str) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        await b.provider.fetch(upstream_id, NONE)
    assert caught.value.kind is ErrorKind.NOT_FOUND
    return caught.value


async def test_a_pending_prompt_the_server_forgot_never_started() -> None:
    async with box() as b:
        b.provider._listen({})  # the socket is open before anything is queued
        feed = b.provider.feed
        assert feed is not None
        await asyncio.wait_for(feed.connected.wait(), 30)
        running = await b.provider.submit(_request("video_running"), NONE)
        await _until(lambda: b.fake.running is not None and b.fake.running.started)
        waiting = await b.provider.submit(_request("video_waiting"), NONE)
        seen = await b.provider.fetch(waiting.upstream_id, NONE)
        assert seen.status is UpstreamStatus.QUEUED  # held behind the running one

        b.kill()  # mid-render, with its queue
        await _until(lambda: not feed.connected.is_set())
        b.restart()
        assert (await _lost(b, waiting.upstream_id)).never_started  # may go elsewhere
        assert not (await _lost(b, running.upstream_id)).never_started  # never resent
        assert b.log.by_job() == {"video_running": ["gpu"]}


async def test_without_an_open_socket_nothing_is_proven() -> None:
    """No websocket (or one not open when the prompt was queued): a forgotten prompt
    may have started for all we know, so it is not resent."""
    async with box(websocket=False) as b:
        b.fake.paused = True
        waiting = await b.provider.submit(_request("video_waiting"), NONE)
        assert (await b.provider.fetch(waiting.upstream_id, NONE)).status is (
            UpstreamStatus.QUEUED)
        b.kill()
        b.restart()
        assert not (await _lost(b, waiting.upstream_id)).never_started


async def test_a_socket_we_closed_proves_nothing() -> None:
    async with box() as b:
        b.provider._listen({})
        feed = b.provider.feed
        assert feed is not None
        await asyncio.wait_for(feed.connected.wait(), 30)
        b.fake.paused = True
        waiting = await b.provider.submit(_request("video_waiting"), NONE)
        await feed.close()  # our end, not the server's: starts after this go unheard
        b.kill()
        b.restart()
        assert not (await _lost(b, waiting.upstream_id)).never_started


async def test_a_start_heard_is_never_forgotten() -> None:
    async with box() as b:
        b.provider._listen({})
        feed = b.provider.feed
        assert feed is not None
        await asyncio.wait_for(feed.connected.wait(), 30)
        job = await b.provider.submit(_request("video_one"), NONE)  # starts at once
        await _until(lambda: job.upstream_id in feed._started)  # execution_start heard
        b.kill()
        await _until(lambda: not feed.connected.is_set())
        b.restart()
        assert not (await _lost(b, job.upstream_id)).never_started

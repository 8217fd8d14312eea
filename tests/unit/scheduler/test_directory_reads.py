"""The channel directory's rows: one read for everyone who finds them stale, and
everyone wakes when it ends (not one waiter per loop turn, queued on a lock: that
cost a create 1-2.6 s at 32 connections while the worker drove 64 jobs). Counted in
reads and loop turns, not timed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from reelgate.config import Settings
from reelgate.routing import channels as chrepo
from reelgate.routing.crypto import SecretBox
from reelgate.scheduler import directory as directory_module
from reelgate.scheduler.directory import ChannelDirectory
from reelgate.store.db import Database
from reelgate.store.migrate import upgrade


class GatedReads:
    """``list_channels`` that counts its calls and returns when let go."""

    def __init__(self) -> None:
        self.calls = 0
        self.go = asyncio.Event()
        self._real = chrepo.list_channels

    async def __call__(self, conn: Any) -> Any:
        self.calls += 1
        await self.go.wait()
        return await self._real(conn)


@pytest.fixture()
async def directory(tmp_path: Path) -> AsyncIterator[ChannelDirectory]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    await upgrade(db)
    settings = Settings.from_env(data_dir=tmp_path, local_channel="off")
    try:
        yield ChannelDirectory(db, SecretBox(Fernet.generate_key()), settings)
    finally:
        await db.dispose()


async def _turns_until_done(tasks: list[asyncio.Task[Any]], limit: int = 50) -> int:
    for turn in range(limit):
        if all(t.done() for t in tasks):
            return turn
        await asyncio.sleep(0)
    return limit


async def test_callers_that_find_the_rows_stale_share_one_read(
        directory: ChannelDirectory, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = GatedReads()
    monkeypatch.setattr(directory_module.chrepo, "list_channels", reads)
    callers = [asyncio.create_task(directory.channels()) for _ in range(200)]
    while reads.calls == 0:
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert reads.calls == 1
    reads.go.set()
    # every caller is done within a few loop turns of the read, not one turn each
    assert await _turns_until_done(callers) <= 10
    assert reads.calls == 1
    assert all(t.result() == [] for t in callers)


async def test_a_fresh_caller_waits_for_a_read_begun_after_it_asked(
        directory: ChannelDirectory, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = GatedReads()
    monkeypatch.setattr(directory_module.chrepo, "list_channels", reads)
    early = asyncio.create_task(directory.channels())
    while reads.calls == 0:
        await asyncio.sleep(0)
    fresh = asyncio.create_task(directory.channels(fresh=True))  # asked mid-read
    reads.go.set()
    await early
    await fresh
    assert reads.calls == 2  # the read in flight began before it asked: one more


async def test_a_failed_read_reaches_its_waiters_and_the_next_call_reads_again(
        directory: ChannelDirectory, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0

    async def broken(conn: Any) -> Any:
        nonlocal calls
        calls += 1
        raise OSError("database went away")

    monkeypatch.setattr(directory_module.chrepo, "list_channels", broken)
    results = await asyncio.gather(directory.channels(), directory.channels(),
                                   return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results) and calls == 1
    monkeypatch.undo()
    assert await directory.channels() == []


async def test_a_cancelled_caller_does_not_cancel_the_read(
        directory: ChannelDirectory, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = GatedReads()
    monkeypatch.setattr(directory_module.chrepo, "list_channels", reads)
    first = asyncio.create_task(directory.channels())
    second = asyncio.create_task(directory.channels())
    while reads.calls == 0:
        await asyncio.sleep(0)
    first.cancel()
    reads.go.set()
    assert await second == [] and reads.calls == 1

"""Processes take turns at SQLite's write lock (``store/turns.py``).

Without turns, a process that writes back to back (a worker submitting a burst, an
API process under a stream of creates) keeps the lock between its own transactions
and another process's spaced-out retries wait hundreds of milliseconds. Counted,
not timed: how many transactions the busy process commits while the other waits
for one.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from reelgate.store import turns as turns_module
from reelgate.store.db import Database
from reelgate.store.turns import WriterTurns

#: a process whose write transactions queue on its own lock and so follow each other
#: back to back (as a worker's do in a burst), each adding one to ``n``, until ``stop``
_HOG = """
import asyncio, sys
from sqlalchemy import text
from reelgate.store.db import Database

async def writer(db, done):
    while not done.is_set():
        async with db.begin() as conn:
            await conn.execute(text("UPDATE hog SET n = n + 1"))
            sum(range(20000))  # the work a real transaction does between statements
            if (await conn.execute(text("SELECT stop FROM hog"))).scalar():
                done.set()

async def main(url):
    db = Database(url)
    done = asyncio.Event()
    await asyncio.gather(*(writer(db, done) for _ in range(8)))  # queued on its lock
    await db.dispose()

asyncio.run(main(sys.argv[1]))
"""


@pytest.fixture()
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}"


async def _hog_count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(text("SELECT n FROM hog"))).scalar_one())


async def test_a_process_gets_the_lock_from_one_that_writes_back_to_back(
        url: str) -> None:
    db = Database(url)
    try:
        async with db.begin() as conn:
            await conn.execute(text("CREATE TABLE hog (n INTEGER, stop INTEGER)"))
            await conn.execute(text("INSERT INTO hog VALUES (0, 0)"))
        proc = subprocess.Popen([sys.executable, "-c", _HOG, url])
        try:
            while await _hog_count(db) < 200:  # the other process is writing flat out
                assert proc.poll() is None, "the writing process died"
                await asyncio.sleep(0.01)
            overtaken = []
            for _ in range(30):
                before = await _hog_count(db)
                async with db.begin() as conn:  # waits for the lock
                    overtaken.append(int((await conn.execute(
                        text("SELECT n FROM hog"))).scalar_one()) - before)
            async with db.begin() as conn:
                await conn.execute(text("UPDATE hog SET stop = 1"))
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        await db.dispose()
    # with turns: one or two each time (what held the lock when this process asked; up
    # to 8 on a loaded machine); without them the worst of 30 was 55 to 2,344
    assert max(overtaken) <= 25, overtaken


def test_a_claim_is_seen_by_others_only(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    mine, theirs = WriterTurns(path), WriterTurns(path)
    try:
        assert not mine.other_waits() and not theirs.other_waits()
        theirs.waiting()
        assert mine.other_waits() and not theirs.other_waits()
        mine.served()  # not its claim: left alone
        assert mine.other_waits()
        theirs.served()
        assert not mine.other_waits()
    finally:
        mine.close()
        theirs.close()


def test_a_claim_left_by_a_dead_process_ages_out(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "x.db")
    mine, gone = WriterTurns(path), WriterTurns(path)
    try:
        gone.waiting()
        assert mine.other_waits()
        later = time.monotonic() + turns_module.STALE_SECONDS + 1
        monkeypatch.setattr(turns_module.time, "monotonic", lambda: later)
        assert not mine.other_waits()
    finally:
        mine.close()
        gone.close()


def test_the_turn_file_survives_garbage_and_dispose_twice(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    Path(f"{path}-turn").write_bytes(b"\xff" * 3)  # short, from who knows what
    turns = WriterTurns(str(path))
    try:
        assert isinstance(turns.other_waits(), bool)
        turns.waiting()
        assert not turns.other_waits()
    finally:
        turns.close()


async def test_a_database_closes_its_turns_once(url: str) -> None:
    db = Database(url)
    async with db.begin() as conn:
        await conn.execute(text("SELECT 1"))
    await db.dispose()
    await db.dispose()

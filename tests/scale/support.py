"""Several gateway processes on one database: API servers, workers, a fake upstream.

A :class:`Deployment` is what an operator runs at scale, shrunk onto loopback: N
``reelgate serve --no-worker`` and M ``reelgate worker`` processes, each with its own
data directory (as if on its own machine), sharing only the database (a fresh
PostgreSQL database, or one SQLite file), the media storage and the secret key. The
upstream is a fake OpenAI-shaped server added as a channel, so jobs cost no CPU.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from cryptography.fernet import Fernet
from sqlalchemy import text

from reelgate.auth import repository as auth_repo
from reelgate.routing import channels as chrepo
from reelgate.routing.crypto import SecretBox
from reelgate.store.db import Database
from reelgate.store.migrate import upgrade
from tests.support.server import REELGATE, TEST_DATABASE, GatewayProcess, create_database

__all__ = ["Deployment", "WorkerProcess", "in_thread", "new_database_url", "query"]

T = TypeVar("T")
UPSTREAM_KEY = "sk-upstream-scale"


def in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop (callers may be inside one)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return cast(T, box["value"])


def new_database_url(root: Path) -> str:
    """A fresh database of the kind this test run uses."""
    if TEST_DATABASE == "postgres":
        return create_database()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{root / 'shared.db'}"


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async def run() -> list[tuple[Any, ...]]:
        db = Database(url)
        try:
            async with db.read() as conn:
                return [tuple(r) for r in (await conn.execute(text(sql), params)).all()]
        finally:
            await db.dispose()

    return in_thread(run())


@dataclass
class WorkerProcess:
    """``reelgate worker`` in its own process group, so kill -9 takes it down whole."""

    data_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "worker.log").open("ab")
        self.proc = subprocess.Popen([*REELGATE, "worker"], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()


@dataclass
class Deployment:
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    database_url: str = ""
    storage_url: str = ""
    secret_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    apis: list[GatewayProcess] = field(default_factory=list)
    workers: list[WorkerProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.database_url = self.database_url or new_database_url(self.root / "db")
        self.storage_url = self.storage_url or str(self.root / "media")
        in_thread(self._migrate())

    async def _migrate(self) -> None:
        db = Database(self.database_url)
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    def shared_env(self) -> dict[str, str]:
        return {
            "REELGATE_DATABASE_URL": self.database_url,
            "REELGATE_STORAGE_URL": self.storage_url,
            "REELGATE_SECRET_KEY": self.secret_key,
            "REELGATE_LOCAL_CHANNEL": "off",
            **self.env,
        }

    def add_apis(self, count: int, extra: Mapping[str, str] | None = None, *,
                 each: list[Mapping[str, str]] | None = None) -> list[GatewayProcess]:
        """Start ``count`` API processes (``serve --no-worker``) in parallel; ``each``
        gives the n-th one extra settings of its own."""
        first = len(self.apis)
        own = each or [{}] * count
        new = [GatewayProcess(self.root / f"api{first + n}",
                              env={**self.shared_env(), **(extra or {}), **own[n]},
                              args=("--no-worker",))
               for n in range(count)]
        self.apis.extend(new)
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda api: api.start(), new))
        return new

    def add_worker(self, extra: Mapping[str, str] | None = None) -> WorkerProcess:
        n = len(self.workers)
        probe = GatewayProcess(self.root / f"worker{n}", env={**self.shared_env(),
                                                               **(extra or {})})
        worker = WorkerProcess(probe.data_dir, probe.full_env())
        worker.start()
        self.workers.append(worker)
        return worker

    def add_fake_channel(self, base_url: str, *, key: str = UPSTREAM_KEY,
                         name: str = "fake", **options: Any) -> str:
        async def add() -> str:
            db = Database(self.database_url)
            try:
                async with db.begin() as conn:
                    cid = await chrepo.add_channel(conn, name=name, provider="openai",
                                                   base_url=base_url, **options)
                    await chrepo.add_credential(conn, SecretBox(self.secret_key.encode()),
                                                cid, key)
                return cid
            finally:
                await db.dispose()

        return in_thread(add())

    def create_key(self, tenant: str = "scale", name: str = "scale") -> str:
        """An API key for an unlimited tenant, written straight into the database (its
        name made unique: names are unique among a tenant's live keys)."""
        name = f"{name}-{secrets.token_hex(4)}"
        async def create() -> str:
            db = Database(self.database_url)
            try:
                async with db.begin() as conn:
                    ten = await auth_repo.ensure_tenant(conn, tenant, unlimited=True)
                    _, secret = await auth_repo.create_key(conn, ten, name)
                return secret
            finally:
                await db.dispose()

        return in_thread(create())

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        return query(self.database_url, sql, **params)

    def execute(self, sql: str, **params: Any) -> None:
        async def run() -> None:
            db = Database(self.database_url)
            try:
                async with db.begin() as conn:
                    await conn.execute(text(sql), params)
            finally:
                await db.dispose()

        in_thread(run())

    def terminal_entries(self) -> dict[str, int]:
        """Per job, how often its event log enters a terminal state from a live one
        (a job that is finished exactly once shows 1; leaving it again counts too)."""
        rows = self.query("SELECT job_id, state FROM job_events WHERE state IS NOT NULL "
                          "ORDER BY job_id, id")
        entries: dict[str, int] = {}
        last: dict[str, str] = {}
        for job_id, state in rows:
            was_terminal = last.get(job_id) in ("completed", "failed")
            if (state in ("completed", "failed")) != was_terminal:
                entries[job_id] = entries.get(job_id, 0) + 1
            last[job_id] = state
        return entries

    def wait_for(self, sql: str, want: Any, timeout: float = 60.0,
                 **params: Any) -> list[tuple[Any, ...]]:
        """Poll ``sql`` until its first column of the first row equals ``want``."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.query(sql, **params)
            if rows and rows[0][0] == want:
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"{sql!r} gave {rows!r}, wanted {want!r}")
            time.sleep(0.2)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for api in self.apis:
            api.stop()

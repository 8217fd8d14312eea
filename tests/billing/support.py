"""Helpers for billing tests that drive the real services on a real database."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reelgate.auth import repository as auth_repo
from reelgate.auth.principal import Principal
from reelgate.billing import ledger, tenants
from reelgate.billing.ledger import Entry
from reelgate.bootstrap import Gateway
from reelgate.catalog import CATALOG
from reelgate.config import Settings
from reelgate.ids import new_id
from reelgate.jobs.model import Job
from reelgate.jobs.requests import CreateParams


def settings_for(data_dir: Path, database_url: str | None = None) -> Settings:
    return Settings(data_dir=data_dir,
                    database_url=database_url or f"sqlite+aiosqlite:///{data_dir / 'db.sqlite'}",
                    storage_url=str(data_dir / "media"), local_channel="off", run_worker=False)


async def make_principal(gw: Gateway, *, prepaid: bool = True, topup: int = 0,
                         ppm: int = 1_000_000, **limits: Any) -> Principal:
    """A new tenant (own name) with one key; ``limits`` are api_keys columns."""
    secret = ""
    async with gw.db.begin() as conn:
        ten = await tenants.create(conn, new_id("t", 6), prepaid=prepaid, multiplier_ppm=ppm)
        if topup:
            await tenants.credit(conn, ten, topup, reference="opening")
        _, secret = await auth_repo.create_key(conn, ten, "k", **limits)
    async with gw.db.read() as conn:
        found = await auth_repo.find_principal(conn, secret)
    assert found is not None
    return found


def params(model: str = "sora-2", size: str = "1280x720", seconds: int = 8) -> CreateParams:
    spec = CATALOG.get(model)
    assert spec is not None
    return CreateParams(spec, "a billing test", size, seconds, None)


async def drive_to(gw: Gateway, job: Job, *, rendered_seconds: float | None = None,
                   rendered_size: str | None = None,
                   render_seconds: float | None = None) -> Job:
    """QUEUED → … → DOWNLOADING the way the worker does, with what the upstream reported
    (``render_seconds``: the GPU time it measured)."""
    life = gw.lifecycle
    routed = await life.route(job, channel_id="ch_billing", credential_id="",
                              upstream_model=job.model)
    assert routed is not None
    running = await life.accept(routed, f"up_{job.id}", upstream_status="in_progress",
                                progress=0, due_at=time.time())
    assert running is not None
    done = await life.downloading(running, upstream_status="completed", result_url=None,
                                  rendered_seconds=rendered_seconds, rendered_size=rendered_size,
                                  render_seconds=render_seconds)
    assert done is not None
    return done


async def finish(gw: Gateway, job: Job) -> Job | None:
    """DOWNLOADING → COMPLETED, billed on what the upstream reported (else what was asked)."""
    return await gw.lifecycle.complete(
        job, {}, rendered_seconds=job.rendered_seconds or float(job.seconds),
        rendered_size=job.rendered_size or job.size, expires_at=time.time() + 3600)


async def complete(gw: Gateway, job: Job, **rendered: Any) -> Job:
    done = await finish(gw, await drive_to(gw, job, **rendered))
    assert done is not None
    return done


async def fail(gw: Gateway, job: Job, code: str = "moderation_blocked") -> Job | None:
    return await gw.lifecycle.fail(job, code, code)


async def balance(gw: Gateway, tenant_id: str) -> int:
    async with gw.db.read() as conn:
        return (await tenants.get(conn, tenant_id)).balance_micros


async def job_entries(gw: Gateway, job_id: str) -> list[Entry]:
    async with gw.db.read() as conn:
        return await ledger.entries_for_job(conn, job_id)


async def verified(gw: Gateway, tenant_id: str) -> bool:
    async with gw.db.read() as conn:
        return all(v.ok for v in await ledger.verify(conn, tenant_id))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1 (no persistence); yields its URL."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(binary):
        raise RuntimeError("redis-server is not installed; scripts/test.sh installs it "
                           "(apt-get install redis-server)")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

"""Run a real `reelgate serve` process on 127.0.0.1 for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REELGATE = [sys.executable, "-m", "reelgate"]

#: ``postgres`` runs every gateway on its own fresh database in the cluster at
#: ``REELGATE_TEST_POSTGRES_URL`` (scripts/test.sh sets both); anything else is SQLite.
TEST_DATABASE = os.environ.get("REELGATE_TEST_DATABASE", "sqlite")


def create_database(admin_url: str | None = None) -> str:
    """A new, empty PostgreSQL database; returns its SQLAlchemy URL."""
    admin_url = admin_url or os.environ["REELGATE_TEST_POSTGRES_URL"]
    name = f"rg_{secrets.token_hex(6)}"
    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://")

    async def create() -> None:
        import asyncpg

        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    # a thread of its own: callers may already be inside an event loop
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _run(create(), errors))
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _run(coro: Coroutine[Any, Any, None], errors: list[BaseException]) -> None:
    try:
        asyncio.run(coro)
    except BaseException as exc:
        errors.append(exc)


def database_env() -> dict[str, str]:
    """Environment that points a new gateway at its own database (empty for SQLite)."""
    if TEST_DATABASE == "postgres":
        return {"REELGATE_DATABASE_URL": create_database()}
    return {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class GatewayProcess:
    data_dir: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def __post_init__(self) -> None:
        # one database for the life of this object, so a restart finds its jobs again
        if "REELGATE_DATABASE_URL" not in self.env:
            self.env = {**database_env(), **self.env}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def full_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REELGATE_")}
        env.update({
            "REELGATE_DATA_DIR": str(self.data_dir),
            "REELGATE_RENDER_PRESET": "ultrafast",
            "REELGATE_POLL_MIN_SECONDS": "0.3",
            "REELGATE_POLL_MAX_SECONDS": "2",
            "REELGATE_LEASE_SECONDS": "5",
        })
        env.update(self.env)
        return env

    def cli(self, *args: str, extra_env: Mapping[str, str] | None = None) -> str:
        """Run a `reelgate` sub-command against this gateway's data; returns stdout."""
        out = subprocess.run([*REELGATE, *args], env={**self.full_env(), **(extra_env or {})},
                             capture_output=True, check=True, timeout=60)
        return out.stdout.decode()

    def create_key(self, name: str, tenant: str = "default") -> str:
        out = self.cli("keys", "create", "--name", name, "--tenant", tenant,
                       "--create-tenant")
        return out.strip().splitlines()[-1]

    def start(self, *, wait: float = 120.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / f"serve-{self.port}.log"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*REELGATE, "serve", "--port", str(self.port), *self.args],
            env=self.full_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.root_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gateway did not start:\n{self.log_path.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()

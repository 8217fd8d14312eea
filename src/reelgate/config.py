"""Settings from the environment (``REELGATE_*``), with embedded defaults.

The defaults make a fresh checkout work offline: SQLite and media under ``./data``,
the local renderer as the only channel, an in-process worker.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["Settings"]


def _env(name: str, default: str) -> str:
    return os.environ.get(f"REELGATE_{name}", default)


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(f"REELGATE_{name}")
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str = "") -> tuple[str, ...]:
    raw = _env(name, default)
    return tuple(w.strip().lower() for w in raw.split(",") if w.strip())


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str = ""
    storage_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    #: run the scheduler inside the API process (the embedded default)
    run_worker: bool = True
    #: a worker's identity in leases; unique per process, also across machines
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()[:40]}-"
                                                   f"{os.getpid()}-{secrets.token_hex(3)}")
    retention_days: float = 30.0
    max_json_bytes: int = 1 << 20
    max_header_bytes: int = 32 << 10
    max_upload_bytes: int = 20 << 20
    max_prompt_chars: int = 32_000
    moderation_words: tuple[str, ...] = ()
    render_preset: str = "veryfast"
    render_concurrency: int = 1
    #: "auto" creates the embedded local channel when no channel exists yet
    local_channel: str = "auto"
    poll_min_seconds: float = 2.0
    poll_max_seconds: float = 30.0
    lease_seconds: float = 60.0
    job_timeout_seconds: float = 6 * 3600.0
    worker_batch: int = 200
    worker_concurrency: int = 64
    stale_refresh_seconds: float = 10.0
    #: how long an authenticated key is trusted without a database look-up
    auth_cache_seconds: float = 2.0
    #: how long a client's GET waits for an inline refresh before answering from the DB
    refresh_timeout_seconds: float = 3.0
    #: an idle worker looks for due jobs at least this often (new jobs also wake it)
    idle_seconds: float = 0.5
    housekeeping_seconds: float = 30.0
    #: an Idempotency-Key may be reused for a new job after this long
    idempotency_ttl_seconds: float = 86400.0
    db_pool_size: int = 10
    secret_key: str = ""
    admin_token: str = ""
    redis_url: str = ""
    storage_redirect: bool = False
    log_json: bool = False

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        data_dir = Path(_env("DATA_DIR", "data")).resolve()
        s = cls(
            data_dir=data_dir,
            database_url=_env("DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'reelgate.db'}"),
            storage_url=_env("STORAGE_URL", str(data_dir / "media")),
            host=_env("HOST", "127.0.0.1"),
            port=int(_env("PORT", "8000")),
            run_worker=_env_bool("RUN_WORKER", True),
            retention_days=float(_env("RETENTION_DAYS", "30")),
            max_upload_bytes=int(_env("MAX_UPLOAD_BYTES", str(20 << 20))),
            max_json_bytes=int(_env("MAX_JSON_BYTES", str(1 << 20))),
            max_header_bytes=int(_env("MAX_HEADER_BYTES", str(32 << 10))),
            moderation_words=_env_list("MODERATION_WORDS"),
            render_preset=_env("RENDER_PRESET", "veryfast"),
            render_concurrency=int(_env("RENDER_CONCURRENCY", "1")),
            local_channel=_env("LOCAL_CHANNEL", "auto"),
            poll_min_seconds=float(_env("POLL_MIN_SECONDS", "2")),
            poll_max_seconds=float(_env("POLL_MAX_SECONDS", "30")),
            lease_seconds=float(_env("LEASE_SECONDS", "60")),
            job_timeout_seconds=float(_env("JOB_TIMEOUT_SECONDS", str(6 * 3600))),
            worker_concurrency=int(_env("WORKER_CONCURRENCY", "64")),
            stale_refresh_seconds=float(_env("STALE_REFRESH_SECONDS", "10")),
            auth_cache_seconds=float(_env("AUTH_CACHE_SECONDS", "2")),
            refresh_timeout_seconds=float(_env("REFRESH_TIMEOUT_SECONDS", "3")),
            idle_seconds=float(_env("IDLE_SECONDS", "0.5")),
            housekeeping_seconds=float(_env("HOUSEKEEPING_SECONDS", "30")),
            idempotency_ttl_seconds=float(_env("IDEMPOTENCY_TTL_SECONDS", "86400")),
            worker_batch=int(_env("WORKER_BATCH", "200")),
            db_pool_size=int(_env("DB_POOL_SIZE", "10")),
            secret_key=_env("SECRET_KEY", ""),
            admin_token=_env("ADMIN_TOKEN", ""),
            redis_url=_env("REDIS_URL", ""),
            storage_redirect=_env_bool("STORAGE_REDIRECT", False),
            log_json=_env_bool("LOG_JSON", False),
        )
        return replace(s, **overrides)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

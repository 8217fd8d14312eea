"""Settings from the environment (``REELGATE_*``), with embedded defaults.

The one place the environment is read (besides the CLI's own flags). Each setting is
declared once, with its default and what it means; :meth:`Settings.from_env` reads
``REELGATE_<NAME>`` for every setting that has ``env``, and :func:`reference` renders
the table the README shows (a test keeps the two in step). The defaults make a fresh
checkout work offline: SQLite and media in the user's data directory (the same one
wherever a command runs, so ``reelgate keys create`` finds the server's database), the
local renderer as the only channel, an in-process worker.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

__all__ = ["Settings", "default_data_dir", "reference"]

_PREFIX = "REELGATE_"
_TRUE = frozenset({"1", "true", "yes", "on"})


def _about(doc: str, *, env: bool = True, shown: str | None = None) -> dict[str, Any]:
    """What a setting means, whether the environment sets it, and (``shown``) its
    default as the README tells it when the value itself would not say."""
    return {"doc": doc, "env": env, "shown": shown}


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/reelgate``, else ``~/.local/share/reelgate``: never relative to
    the current directory, so the server and every CLI command agree on it."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_DATA_HOME", "")
    if xdg and Path(xdg).is_absolute():  # the XDG spec: a relative value is ignored
        return Path(xdg) / "reelgate"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".local" / "share" / "reelgate"


def _worker_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir, metadata=_about(
        "Directory of the SQLite database, media, the generated secret key and admin token, and "
        "scratch files. The server and the CLI use the same one wherever they are started.",
        shown="`$XDG_DATA_HOME/reelgate`, else `~/.local/share/reelgate`"))
    database_url: str = field(default="", metadata=_about(
        "SQLAlchemy URL of the database (`postgresql+asyncpg://…` at scale).",
        shown="SQLite file `<data dir>/reelgate.db`"))
    storage_url: str = field(default="", metadata=_about(
        "Where media live: a directory, or `s3://bucket/prefix?endpoint_url=…` (needs the "
        "`s3` extra: `pip install 'reelgate[s3]'`).",
        shown="`<data dir>/media`"))
    host: str = field(default="127.0.0.1", metadata=_about(
        "Address `reelgate serve` listens on."))
    port: int = field(default=8000, metadata=_about(
        "Port `reelgate serve` listens on."))
    run_worker: bool = field(default=True, metadata=_about(
        "Run the scheduler inside the API process (`serve --no-worker` turns it off)."))
    worker_id: str = field(default_factory=_worker_id, metadata=_about(
        "A worker's identity in leases; unique per process, across machines too.", env=False))
    retention_days: float = field(default=30.0, metadata=_about(
        "Days a finished job keeps what it stored (video, variants, reference image, "
        "uploads; a failed job its reference); DELETE removes them at once."))
    max_json_bytes: int = field(default=1 << 20, metadata=_about(
        "Largest JSON (or other non-multipart) request body, in bytes."))
    max_header_bytes: int = field(default=32 << 10, metadata=_about(
        "Largest request head (request line and headers), in bytes; more is a 431."))
    max_upload_bytes: int = field(default=20 << 20, metadata=_about(
        "Largest `input_reference` image, in bytes."))
    max_clip_bytes: int = field(default=100 << 20, metadata=_about(
        "Largest uploaded video clip (`video` of an edit, extension or character), in bytes."))
    character_price_micros: int = field(default=0, metadata=_about(
        "What creating a character costs, in micro-USD (0: free)."))
    max_prompt_chars: int = field(default=32000, metadata=_about(
        "Longest prompt.", env=False))
    moderation_words: tuple[str, ...] = field(default=(), metadata=_about(
        "Comma-separated words the local renderer refuses (`moderation_blocked`)."))
    render_preset: str = field(default="veryfast", metadata=_about(
        "x264 preset of the local renderer."))
    render_concurrency: int = field(default=1, metadata=_about(
        "Videos the local renderer encodes at once."))
    local_channel: str = field(default="auto", metadata=_about(
        "The embedded `local` channel: `auto` (created when no channel exists), `on` (kept next to "
        "real channels) or `off` (never created)."))
    poll_min_seconds: float = field(default=2.0, metadata=_about(
        "Shortest delay between two polls of a job."))
    poll_max_seconds: float = field(default=30.0, metadata=_about(
        "Longest delay between two polls of a job."))
    lease_seconds: float = field(default=60.0, metadata=_about(
        "How long a worker's claim on a job lasts; renewed while it works."))
    job_timeout_seconds: float = field(default=6 * 3600.0, metadata=_about(
        "Jobs older than this fail with code `timeout` (and are refunded)."))
    submit_deadline_seconds: float = field(default=600.0, metadata=_about(
        "A job that every channel refuses (down, 5xx, 429, bad key) for this long after it was "
        "created fails with code `no_channel_accepted`, naming the last channel and its answer, "
        "and is refunded. Waiting for a channel's concurrency cap is not a refusal."))
    worker_batch: int = field(default=200, metadata=_about(
        "Most jobs a worker claims with one statement."))
    worker_concurrency: int = field(default=64, metadata=_about(
        "Steps a worker runs at once."))
    stale_refresh_seconds: float = field(default=10.0, metadata=_about(
        "A client's GET of a running job whose last poll is older than this polls it inline (0: "
        "never)."))
    auth_cache_seconds: float = field(default=2.0, metadata=_about(
        "How long a process trusts an authenticated key without a database look-up."))
    refresh_timeout_seconds: float = field(default=3.0, metadata=_about(
        "How long a client's GET waits for an inline refresh before answering from the database."))
    idle_seconds: float = field(default=0.5, metadata=_about(
        "An idle worker looks for due jobs at least this often (new jobs also wake it)."))
    housekeeping_seconds: float = field(default=30.0, metadata=_about(
        "How often a worker times out stuck jobs and expires old media."))
    idempotency_ttl_seconds: float = field(default=86400.0, metadata=_about(
        "After this long an `Idempotency-Key` may be used for a new job."))
    db_pool_size: int = field(default=10, metadata=_about(
        "Database connections per process (PostgreSQL)."))
    secret_key: str = field(default="", metadata=_about(
        "Fernet key that encrypts upstream credentials; the same everywhere.",
        shown="generated into `<data dir>/secret.key`"))
    admin_token: str = field(default="", metadata=_about(
        "Bearer token of the admin API and UI.", shown="generated into `<data dir>/admin.token`"))
    redis_url: str = field(default="", metadata=_about(
        "Redis shared by every process for per-key and per-channel rate limits.",
        shown="none: per process"))
    storage_redirect: bool = field(default=False, metadata=_about(
        "Answer content requests with a presigned URL of the media store (S3)."))
    log_json: bool = field(default=False, metadata=_about(
        "Log lines as JSON."))
    openapi_docs: bool = field(default=True, metadata=_about(
        "Serve the OpenAPI document (`/openapi.json`) and its browser (`/docs`)."))
    metrics_token: str = field(default="", metadata=_about(
        "Bearer token `GET /metrics` requires (a scraper's `authorization` credential).",
        shown="none: public"))
    metrics_tenant_label: bool = field(default=False, metadata=_about(
        "Split the charged and refunded micro-USD metrics by tenant too (one series per "
        "tenant and model: mind the cardinality)."))
    worker_metrics_port: int = field(default=0, metadata=_about(
        "Port on `REELGATE_HOST` where `reelgate worker` serves its own `/metrics` (CPU, "
        "memory; the metrics token applies); 0: none.", shown="`0`: none"))
    metrics_shared_dir: str = field(default="", metadata=_about(
        "`PROMETHEUS_MULTIPROC_DIR`: where the processes of `serve --workers N` add up their "
        "HTTP and process metrics (`serve` sets it).", env=False))
    admin_login_per_minute: int = field(default=10, metadata=_about(
        "Admin sign-in attempts allowed per minute from one client address (then 429)."))
    webhook_max_age_seconds: float = field(default=86400.0, metadata=_about(
        "A failing webhook delivery is retried this long, then it is `dead`."))
    webhook_backoff_base_seconds: float = field(default=5.0, metadata=_about(
        "First retry delay of a webhook delivery; doubles each attempt."))
    webhook_backoff_max_seconds: float = field(default=3600.0, metadata=_about(
        "Longest retry delay of a webhook delivery."))
    webhook_timeout_seconds: float = field(default=10.0, metadata=_about(
        "Timeout of one webhook POST."))
    webhook_lease_seconds: float = field(default=60.0, metadata=_about(
        "How long a dispatcher's claim on a delivery lasts."))
    webhook_concurrency: int = field(default=16, metadata=_about(
        "Webhook deliveries a dispatcher sends at once."))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /,
                 **overrides: Any) -> Settings:
        """Every ``REELGATE_<NAME>`` that is set, then ``overrides``; the database
        and storage default to the data directory."""
        env = os.environ if environ is None else environ
        types = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(_PREFIX + f.name.upper()) if f.metadata.get("env") else None
            if raw is not None:
                values[f.name] = _parse(types[f.name], raw)
        if "PROMETHEUS_MULTIPROC_DIR" in env:  # prometheus_client's own variable
            values["metrics_shared_dir"] = env["PROMETHEUS_MULTIPROC_DIR"]
        values.update(overrides)
        data_dir = Path(values.get("data_dir") or default_data_dir(env)).expanduser().resolve()
        values["data_dir"] = data_dir
        if not values.get("database_url"):
            values["database_url"] = f"sqlite+aiosqlite:///{data_dir / 'reelgate.db'}"
        if not values.get("storage_url"):
            values["storage_url"] = str(data_dir / "media")
        return cls(**values)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _parse(kind: Any, raw: str) -> Any:
    if kind is bool:
        return raw.strip().lower() in _TRUE
    if kind in (int, float, str, Path):
        return kind(raw)
    # tuple[str, ...]: a comma-separated list
    return tuple(w.strip().lower() for w in raw.split(",") if w.strip())


def reference() -> str:
    """The configuration table of the README: every environment variable, its
    default and what it means, from the declarations above."""
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for f in dataclasses.fields(Settings):
        if not f.metadata.get("env"):
            continue
        shown = f.metadata.get("shown") or _shown(f.default)
        lines.append(f"| `{_PREFIX}{f.name.upper()}` | {shown} | {f.metadata['doc']} |")
    return "\n".join(lines) + "\n"


def _shown(default: Any) -> str:
    if isinstance(default, bool):
        return "`1`" if default else "`0`"
    if isinstance(default, tuple):
        return ", ".join(default) or "none"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"

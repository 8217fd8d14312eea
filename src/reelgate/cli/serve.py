"""``reelgate serve`` and ``reelgate worker``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import typer
import uvicorn

from reelgate.bootstrap import Gateway
from reelgate.cli.common import CHATTY, database_label, setup_logging
from reelgate.config import Settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("worker")(worker)


def serve(
    host: str = typer.Option(None, help="Bind address (default REELGATE_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default REELGATE_PORT or 8000)."),
    no_worker: bool = typer.Option(False, "--no-worker",
                                   help="API only; run `reelgate worker` separately."),
    workers: int = typer.Option(1, help="Number of API processes (uvicorn workers)."),
) -> None:
    """Run the gateway (API, plus an in-process worker unless --no-worker)."""
    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    if no_worker:
        overrides["run_worker"] = False
    settings = Settings.from_env(**overrides)
    setup_logging(settings)
    _where(settings)
    secret = asyncio.run(_first_key(settings))
    if not settings.admin_token:
        typer.echo(f"Admin token: in {settings.data_dir / 'admin.token'} "
                   "(or set REELGATE_ADMIN_TOKEN)")
    if secret:
        typer.echo("\nA first API key was created for tenant 'default' (shown once):\n"
                   f"\n    {secret}\n\nTry:  curl -H 'Authorization: Bearer {secret}' "
                   f"http://{settings.host}:{settings.port}/v1/models\n")
    from reelgate.api.app import create_app
    from reelgate.api.protocol import server_options

    options = server_options(settings.max_header_bytes)

    if workers > 1:
        # each uvicorn process builds its own app (and worker) from the environment, and
        # writes its metrics where any of them can add them up for a scrape
        os.environ.update(REELGATE_HOST=settings.host, REELGATE_PORT=str(settings.port),
                          REELGATE_RUN_WORKER="1" if settings.run_worker else "0",
                          PROMETHEUS_MULTIPROC_DIR=_fresh_metrics_dir(settings))
        uvicorn.run("reelgate.api.app:create_app", factory=True, workers=workers,
                    host=settings.host, port=settings.port, log_level="info",
                    access_log=False, log_config=_log_config(settings), **options)
        return
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", access_log=False, **options)


def _where(settings: Settings) -> None:
    """Say which data the server uses: the CLI finds the same by the same rules."""
    typer.echo(f"Data directory: {settings.data_dir}\nDatabase: {database_label(settings)}")
    legacy = Path.cwd() / "data"
    if (legacy / "reelgate.db").exists() and legacy.resolve() != settings.data_dir:
        typer.echo(f"note: {legacy} holds a database from an older reelgate, which kept its "
                   "data in the current directory; to go on using it, start with "
                   f"REELGATE_DATA_DIR={legacy}", err=True)


def _fresh_metrics_dir(settings: Settings) -> str:
    """The shared metrics directory of ``serve --workers N``, emptied: the counters of
    an earlier run's processes must not add to this one's."""
    chosen = settings.metrics_shared_dir
    path = Path(chosen) if chosen else settings.data_dir / "metrics"
    if path.is_dir():
        for f in path.glob("*.db"):
            f.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _log_config(settings: Settings) -> dict[str, Any]:
    """setup_logging's configuration, for uvicorn to apply in each spawned process."""
    fmt: dict[str, str] = ({"()": "reelgate.logs.JsonFormatter"} if settings.log_json
                           else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"})
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"default": fmt},
            "handlers": {"default": {"class": "logging.StreamHandler",
                                     "formatter": "default"}},
            "root": {"level": "INFO", "handlers": ["default"]},
            "loggers": {name: {"level": "WARNING"} for name in CHATTY}}


async def _first_key(settings: Settings) -> str | None:
    gw = await Gateway.start(settings)
    try:
        return await gw.bootstrap_key()
    finally:
        await gw.close()


def worker() -> None:
    """Run a worker process only (scale out next to `serve --no-worker`)."""
    settings = Settings.from_env()
    setup_logging(settings)
    _where(settings)

    async def go() -> None:
        gw = await Gateway.start(settings)
        loop = asyncio.get_running_loop()
        metrics = _metrics_server(settings)

        def stop() -> None:
            gw.worker.stop()
            gw.dispatcher.stop()
            if metrics is not None:
                metrics.should_exit = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        try:
            await asyncio.gather(gw.worker.run(), gw.dispatcher.run(),
                                 *([metrics.serve()] if metrics is not None else []))
        finally:
            await gw.close()

    _run_fast(go())


class _MetricsServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the worker's stop() ends it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _metrics_server(settings: Settings) -> _MetricsServer | None:
    """The worker's own ``/metrics`` (CPU, memory), when a port is set for it."""
    if not settings.worker_metrics_port:
        return None
    from reelgate.api.worker_metrics import worker_metrics_app
    from reelgate.metrics import LocalMetrics

    app = worker_metrics_app(LocalMetrics(), settings.metrics_token)
    config = uvicorn.Config(app, host=settings.host, port=settings.worker_metrics_port,
                            lifespan="off", access_log=False, log_level="warning")
    return _MetricsServer(config)



def _run_fast(main: Coroutine[Any, Any, None]) -> None:
    """Run the worker on uvloop when it is installed (``uvicorn[standard]`` brings it on
    Linux and macOS), as ``serve`` runs on it through uvicorn: the worker is all socket
    I/O (upstream polls, database round trips) and asyncio's pure-Python selector loop
    cost it a fifth of its CPU."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows
        asyncio.run(main)
        return
    uvloop.run(main)

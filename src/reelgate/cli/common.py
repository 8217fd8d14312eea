"""What the CLI commands share: settings, logging, and a gateway for one command.

A command finds the server's database the way the server does (``REELGATE_DATA_DIR``
or ``REELGATE_DATABASE_URL``, else the user's data directory; never the current
directory). A command that writes says on stderr which database it wrote to, and a
request the services refuse (:class:`~reelgate.errors.APIError`) is one red line on
stderr and exit code 1, not a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from reelgate.bootstrap import Gateway
from reelgate.config import Settings
from reelgate.errors import APIError

__all__ = ["CHATTY", "database_label", "fail", "quiet_request_logs", "run_with_gateway",
           "setup_logging"]

T = TypeVar("T")
errors = Console(stderr=True)


def setup_logging(settings: Settings) -> None:
    if settings.log_json:
        from reelgate.logs import JsonFormatter

        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    else:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_request_logs()


#: libraries that log every request they make at INFO: a line per upstream poll (tens
#: per second on a busy worker, a few % of its CPU) saying what reelgate's own log
#: lines say better (failures, with the job and the channel)
CHATTY = ("httpx", "httpcore")


def quiet_request_logs() -> None:
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)


def database_label(settings: Settings) -> str:
    """The database URL as an operator may see it: the password hidden."""
    return make_url(settings.database_url).render_as_string(hide_password=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """One red line on stderr, then exit with ``code``."""
    errors.print(f"[red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _sqlite_file(settings: Settings) -> Path | None:
    if not settings.is_sqlite:
        return None
    name = make_url(settings.database_url).database
    return Path(name) if name and name != ":memory:" else None


def run_with_gateway(fn: Callable[[Gateway], Awaitable[T]], *, writes: bool = False) -> T:
    """Open the gateway (migrating the database), run ``fn``, close it.

    ``writes``: print ``database: URL`` on stderr, so an operator sees where a key or a
    channel went. A database that did not exist yet is said so either way: it is the
    sign of a command pointed somewhere the server is not.
    """
    settings = Settings.from_env(local_channel="off")
    path = _sqlite_file(settings)
    if path is not None and not path.exists():
        errors.print(f"note: no database at {path} yet: creating a new one (the server "
                     "must use the same REELGATE_DATA_DIR or REELGATE_DATABASE_URL)",
                     highlight=False, soft_wrap=True)

    async def go() -> T:
        gw = await Gateway.start(settings)
        try:
            return await fn(gw)
        finally:
            await gw.close()

    try:
        result = asyncio.run(go())
    except APIError as exc:
        if writes:
            _said_where(settings)
        fail(exc.message)
    if writes:
        _said_where(settings)
    return result


def _said_where(settings: Settings) -> None:
    errors.print(f"database: {database_label(settings)}", highlight=False, soft_wrap=True)

"""``reelgate backup`` and ``reelgate restore`` for the embedded deployment."""

from __future__ import annotations

from pathlib import Path

import typer

from reelgate.backup import BackupError, create_backup, restore_backup
from reelgate.config import Settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)


def backup(
    archive: Path = typer.Argument(..., help="Where to write it (.tar or .tar.gz)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing archive."),
) -> None:
    """Database (online snapshot), secret key, admin token and media into one archive."""
    settings = Settings.from_env()
    try:
        report = create_backup(settings, archive.resolve(), overwrite=force)
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"database: {report.database}")
    for note in report.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {report.archive}: {report.files} files, {report.bytes} bytes, "
               f"schema revision {report.revision}")


def restore(
    archive: Path = typer.Argument(..., help="An archive written by `reelgate backup`."),
    data_dir: Path = typer.Option(..., "--data-dir",
                                  help="An empty directory to restore into."),
) -> None:
    """Unpack a backup into an empty data directory; then serve from it."""
    try:
        manifest = restore_backup(archive.resolve(), data_dir.resolve())
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"restored {manifest.get('files')} files into {data_dir.resolve()}")
    for note in manifest.get("notes") or []:  # type: ignore[attr-defined]
        typer.echo(f"note: {note}")
    typer.echo(f"serve it with: REELGATE_DATA_DIR={data_dir.resolve()} reelgate serve")

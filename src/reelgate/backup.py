"""Backup and restore of the embedded deployment: one archive, one command each.

The embedded deployment keeps everything under the data directory: the SQLite
database, the Fernet key that encrypts upstream credentials, the admin token, the
media and the local renderer's work files. Losing ``secret.key`` loses every channel
credential, so it travels with the database. The database is copied with SQLite's
online backup API (a consistent snapshot while the server keeps running) *before* the
media, so every job the snapshot calls completed finds its files in the archive.

A PostgreSQL database or S3 media are not the embedded deployment: ``pg_dump`` and the
bucket's own versioning do that job better, and :func:`create_backup` says so instead
of writing an archive that silently lacks them.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reelgate import __version__
from reelgate.config import Settings

__all__ = ["BackupError", "BackupReport", "create_backup", "restore_backup"]

FORMAT = "reelgate-backup/1"
MANIFEST = "manifest.json"
DB_NAME = "reelgate.db"
#: files beside the database that a restore needs, relative to the data directory
SECRETS = ("secret.key", "admin.token")
#: directories under the data directory that hold job data
TREES = ("media", "local")


class BackupError(Exception):
    """A backup or restore that cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class BackupReport:
    archive: Path
    database: Path
    files: int
    bytes: int
    revision: str | None
    notes: tuple[str, ...]


def sqlite_path(database_url: str) -> Path:
    """The file behind a ``sqlite+aiosqlite:///…`` URL."""
    if not database_url.startswith("sqlite"):
        raise BackupError(
            "backup covers the embedded deployment (SQLite); this one uses "
            f"{database_url.split('://', 1)[0]}: back it up with pg_dump instead")
    _, _, path = database_url.partition(":///")
    if not path or path.startswith(":memory:"):
        raise BackupError(f"no database file in {database_url!r}")
    return Path(path)


def _local_media_root(settings: Settings) -> Path | None:
    url = settings.storage_url
    if url.startswith("s3://"):
        return None
    return Path(url.removeprefix("file://"))


def _alembic_revision(db: Path) -> str | None:
    with sqlite3.connect(db) as conn:
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            return None
    return str(row[0]) if row else None


def _snapshot(src: Path, dest: Path) -> None:
    """A consistent copy of a live SQLite database (other writers keep going)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dest)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                yield path


def create_backup(settings: Settings, archive: Path, *, overwrite: bool = False) -> BackupReport:
    """Write database, secrets and media into ``archive`` (``.tar`` or ``.tar.gz``)."""
    db = sqlite_path(settings.database_url)
    if not db.exists():
        raise BackupError(f"no database at {db}: is REELGATE_DATA_DIR right?")
    if archive.exists() and not overwrite:
        raise BackupError(f"{archive} exists; pass --force to replace it")
    notes: list[str] = []
    media_root = _local_media_root(settings)
    if media_root is None:
        notes.append("media are in S3 and not in this archive: use bucket versioning")
    if settings.secret_key:
        notes.append("REELGATE_SECRET_KEY comes from the environment and is not in this "
                     "archive: keep it with the archive, or credentials cannot be read")
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    mode = "w:gz" if archive.name.endswith((".gz", ".tgz")) else "w"
    files = 0
    size = 0
    with tempfile.TemporaryDirectory(prefix="reelgate-backup-") as tmp:
        snap = Path(tmp) / DB_NAME
        _snapshot(db, snap)
        revision = _alembic_revision(snap)
        with tarfile.open(partial, mode) as tar:  # type: ignore[call-overload]
            tar.add(snap, arcname=DB_NAME)
            files, size = 1, snap.stat().st_size
            for name in SECRETS:
                path = settings.data_dir / name
                if path.is_file():
                    tar.add(path, arcname=name)
                    files, size = files + 1, size + path.stat().st_size
            trees = {"media": media_root, "local": settings.data_dir / "local"}
            for arc_root, root in trees.items():
                if root is None or not root.is_dir():
                    continue
                for path in _walk(root):
                    tar.add(path, arcname=f"{arc_root}/{path.relative_to(root).as_posix()}")
                    files, size = files + 1, size + path.stat().st_size
            manifest = json.dumps({
                "format": FORMAT, "reelgate": __version__, "created_at": time.time(),
                "alembic_revision": revision, "files": files, "bytes": size,
                "media_included": media_root is not None,
                "secret_key_included": not settings.secret_key, "notes": notes,
            }, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(manifest)
            info.mtime = int(time.time())
            with tempfile.TemporaryFile() as fh:
                fh.write(manifest)
                fh.seek(0)
                tar.addfile(info, fh)
    partial.replace(archive)
    return BackupReport(archive, db, files, size, revision, tuple(notes))


def _safe_member(member: tarfile.TarInfo) -> PurePosixPath:
    """Only plain files at relative paths inside the archive's own layout."""
    path = PurePosixPath(member.name)
    if (path.is_absolute() or ".." in path.parts or not path.parts
            or not (member.isfile() or member.isdir())):
        raise BackupError(f"refusing archive member {member.name!r}")
    top = path.parts[0]
    if top not in (MANIFEST, DB_NAME, *SECRETS, *TREES):
        raise BackupError(f"unexpected archive member {member.name!r}")
    return path


def restore_backup(archive: Path, data_dir: Path) -> dict[str, object]:
    """Unpack ``archive`` into an empty ``data_dir``; returns the archive's manifest."""
    if data_dir.exists() and any(data_dir.iterdir()):
        raise BackupError(f"{data_dir} is not empty: restore into a new directory")
    if not archive.is_file():
        raise BackupError(f"no archive at {archive}")
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir.parent
                                    if data_dir.parent.exists() else None))
    try:
        with tarfile.open(archive, "r:*") as tar:
            try:
                raw = tar.extractfile(MANIFEST)
            except KeyError:
                raw = None
            if raw is None:
                raise BackupError(f"{archive} has no {MANIFEST}: not a reelgate backup")
            manifest: dict[str, object] = json.loads(raw.read())
            if manifest.get("format") != FORMAT:
                raise BackupError(f"unknown backup format {manifest.get('format')!r}")
            for member in tar:
                path = _safe_member(member)
                if member.isdir() or path.name == MANIFEST:
                    continue
                dest = staging.joinpath(*path.parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                if src is None:
                    continue
                with src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
        for name in SECRETS:
            if (staging / name).exists():
                os.chmod(staging / name, 0o600)
        if not (staging / DB_NAME).exists():
            raise BackupError(f"{archive} holds no database")
        data_dir.mkdir(parents=True, exist_ok=True)
        for entry in staging.iterdir():
            entry.replace(data_dir / entry.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest

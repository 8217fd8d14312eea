"""Temporary files of a step (a video being checked, a derived image), under the
data directory so they sit on the same disk as local storage and never in memory."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["Scratch"]


class Scratch:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, job_id: str, suffix: str) -> Path:
        """A new empty file named after the job; the caller deletes it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{job_id}-", suffix=f".{suffix}",
                                    dir=self.directory)
        os.close(fd)
        return Path(name)

"""Local renders in child processes, at a lower CPU priority than the gateway.

Encoding is CPU work that holds the GIL for most of its time: run in a thread of the
API process, three 4 s renders took retrieves from 763 to 195 req/s and their p99
from 11 to 34 ms. In a child process (``spawn``: no copy of the parent's loop or
locks) at ``nice`` +10, the API's loop keeps its core and the kernel gives renders
whatever is left.

Parent and child share nothing but the job's folder, which is the local provider's
state anyway: the child writes ``progress`` (a fraction, replaced atomically) and
stops at the next frame once ``cancel`` exists or the folder is gone.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from reelgate.media.derive import make_spritesheet, make_thumbnail
from reelgate.providers.base import Variant
from reelgate.providers.local.render import RenderSpec, render_video

__all__ = ["CANCEL", "PROGRESS", "make_pool", "read_progress", "render_job"]

#: files in the job's folder
PROGRESS = "progress"
CANCEL = "cancel"
#: how much nicer than the gateway a render runs
NICENESS = 10


def _child_start() -> None:
    """In each render process: lower priority; Ctrl-C is the parent's to handle."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=max(1, workers),
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_child_start)


def _write_progress(job_dir: Path, fraction: float) -> None:
    tmp = job_dir / f".{PROGRESS}.tmp"
    with contextlib.suppress(FileNotFoundError):  # the folder was deleted: we stop soon
        tmp.write_text(f"{fraction:.4f}")
        tmp.replace(job_dir / PROGRESS)


def read_progress(job_dir: Path) -> float | None:
    """How far the render is (0..1); None if it has not started."""
    try:
        return float((job_dir / PROGRESS).read_text() or 0.0)
    except (FileNotFoundError, ValueError):
        return None


def render_job(job_dir_name: str, spec: RenderSpec, preset: str) -> None:
    """Run in a child: the video, its thumbnail and spritesheet, then ``done``."""
    job_dir = Path(job_dir_name)
    _write_progress(job_dir, 0.0)  # started

    def stopped() -> bool:
        return (job_dir / CANCEL).exists() or not job_dir.exists()

    video = job_dir / Variant.VIDEO.filename
    render_video(spec, video, preset=preset, should_stop=stopped,
                 progress=lambda fraction: _write_progress(job_dir, fraction * 0.9))
    make_thumbnail(video, job_dir / Variant.THUMBNAIL.filename)
    _write_progress(job_dir, 0.95)
    make_spritesheet(video, job_dir / Variant.SPRITESHEET.filename)
    (job_dir / "done").touch()
    _write_progress(job_dir, 1.0)

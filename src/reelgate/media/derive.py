"""Derived images of a finished video: the thumbnail and the spritesheet variants.

The OpenAI-style API serves three variants of every video. Local renders and many upstreams
only produce the MP4, so the other two are cut from the file on disk. Frames are decoded
in one forward pass (seeking only across long gaps) and scaled by swscale straight to the
output size, so even a 1080p source costs a fraction of a second.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
from PIL import Image

__all__ = ["VideoInfo", "make_spritesheet", "make_thumbnail", "probe"]

_THUMBNAIL_AT = 1.0  # seconds: past any fade-in, yet representative of the opening
_SEEK_GAP = 10.0  # seconds: decoding forward is cheaper than seeking below this gap
_WEBP_QUALITY = 80


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    seconds: float
    frames: int
    codec: str


def probe(video_path: Path) -> VideoInfo:
    """Describe the first video stream, after checking that its first frame decodes."""
    with _open(video_path) as container:
        stream = _video_stream(container, video_path)
        first = next(_decode(container, stream, video_path), None)
        if first is None:
            raise ValueError(f"{video_path.name}: video stream has no decodable frames")
        frames = int(stream.frames or 0) or _count_packets(container, stream)
        return VideoInfo(
            width=int(stream.codec_context.width or first.width),
            height=int(stream.codec_context.height or first.height),
            seconds=_duration(container, stream),
            frames=frames,
            codec=str(stream.codec_context.name),
        )


def make_thumbnail(video_path: Path, out_path: Path, *, max_width: int = 640) -> None:
    """Write a WEBP of the frame ~1 s in (the middle of shorter clips), aspect kept."""
    with _open(video_path) as container:
        stream = _video_stream(container, video_path)
        seconds = _duration(container, stream)
        at = _THUMBNAIL_AT if seconds >= 2 * _THUMBNAIL_AT else seconds / 2
        width, height = _fit(stream, max_width)
        (image,) = _grab(container, stream, video_path, [at], width, height)
    _save_webp(image, out_path)


def make_spritesheet(
    video_path: Path, out_path: Path, *, columns: int = 5, rows: int = 2, tile_width: int = 160
) -> None:
    """Write a WEBP grid of ``columns * rows`` frames evenly spaced over the duration.

    Tile ``i`` shows the middle of the ``i``-th equal slice of the video, row by row.
    """
    if columns <= 0 or rows <= 0 or tile_width <= 0:
        raise ValueError("columns, rows and tile_width must be positive")
    with _open(video_path) as container:
        stream = _video_stream(container, video_path)
        count = columns * rows
        step = _duration(container, stream) / count
        width, height = _fit(stream, tile_width, upscale=True)
        tiles = _grab(
            container, stream, video_path, [step * (i + 0.5) for i in range(count)], width, height
        )
    sheet = Image.new("RGB", (columns * width, rows * height))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % columns) * width, (i // columns) * height))
    _save_webp(sheet, out_path)


@contextlib.contextmanager
def _open(video_path: Path) -> Iterator[Any]:
    """Open a container, turning FFmpeg's "not a media file" errors into ``ValueError``."""
    try:
        container = av.open(str(video_path), "r")
    except av.FFmpegError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{Path(video_path).name} is not a readable video: {exc}") from exc
    try:
        yield container
    finally:
        container.close()


def _video_stream(container: Any, video_path: Path) -> Any:
    """The first video stream; a still image (which FFmpeg also demuxes) does not count."""
    name = Path(video_path).name
    if not container.streams.video:
        raise ValueError(f"{name} has no video stream")
    if container.format.name == "image2" or container.format.name.endswith("_pipe"):
        raise ValueError(f"{name} is a still image ({container.format.name}), not a video")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame + slice threads: decoding is the bulk of the work
    return stream


def _decode(container: Any, stream: Any, video_path: Path) -> Iterator[Any]:
    """Decode frames in order; corrupt data becomes ``ValueError`` with the file's name."""
    try:
        yield from container.decode(stream)
    except av.FFmpegError as exc:
        raise ValueError(f"{Path(video_path).name} could not be decoded: {exc}") from exc


def _duration(container: Any, stream: Any) -> float:
    """Stream duration, else the container's, else the timestamp of the last packet."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration / av.time_base)
    end = 0.0
    for packet in container.demux(stream):
        if packet.pts is not None and packet.time_base is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    container.seek(0)
    return end


def _count_packets(container: Any, stream: Any) -> int:
    """Frame count for containers whose header does not carry one (e.g. WebM)."""
    container.seek(0)
    count = sum(1 for packet in container.demux(stream) if packet.size)
    container.seek(0)
    return count


def _fit(stream: Any, width: int, *, upscale: bool = False) -> tuple[int, int]:
    """Output size of ``width`` (or the source width, if smaller and not upscaling)."""
    source_w = int(stream.codec_context.width)
    source_h = int(stream.codec_context.height)
    if source_w <= 0 or source_h <= 0:
        raise ValueError("video stream has no frame size")
    out_w = width if upscale else min(width, source_w)
    return out_w, max(1, round(source_h * out_w / source_w))


def _grab(
    container: Any, stream: Any, video_path: Path, times: list[float], width: int, height: int
) -> list[Image.Image]:
    """RGB images of the first frame at or after each time (sorted), scaled to width x height.

    One forward pass; a seek is made only when the next wanted time is far ahead. Wanted
    times past the last frame get the last frame.
    """
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    pending = sorted(start + t for t in times)
    images: list[Image.Image] = []
    last: Any = None
    position = start
    may_seek = True  # not again until a frame is taken: the seek may land before `position`
    while pending:
        if may_seek and pending[0] - position > _SEEK_GAP:
            container.seek(int(pending[0] / stream.time_base), stream=stream)
            may_seek = False
        for frame in _decode(container, stream, video_path):
            last = frame
            position = float(frame.time) if frame.time is not None else position
            while pending and position + 1e-3 >= pending[0]:
                images.append(_scaled(frame, width, height))
                pending.pop(0)
                may_seek = True
            if not pending or (may_seek and pending[0] - position > _SEEK_GAP):
                break
        else:  # end of stream
            if last is None:
                raise ValueError(f"{Path(video_path).name}: video stream has no decodable frames")
            images.extend(_scaled(last, width, height) for _ in pending)
            pending.clear()
    return images


def _scaled(frame: Any, width: int, height: int) -> Image.Image:
    image: Image.Image = frame.reformat(
        width=width, height=height, format="rgb24", interpolation="AREA"
    ).to_image()
    return image


def _save_webp(image: Image.Image, out_path: Path) -> None:
    """Write atomically, so a concurrent reader sees the old file or the whole new one."""
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        image.save(tmp, format="WEBP", quality=_WEBP_QUALITY, method=4)
        os.replace(tmp, out_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise

"""Frames made from another video: an edit re-renders the source's frames under the new
prompt; an extension plays the source's frames, then continues from its last frame.

The source is decoded one frame at a time and re-timed to the output's frame rate and
size (a frame is repeated or dropped as the clock says), so a clip of any length, rate
or resolution costs one frame of memory. Its length in the output is exactly the
seconds the job was priced on (padded with its last frame, or cut).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np

from reelgate.providers.local.look import Caption, Look
from reelgate.providers.local.render import (
    Planes,
    RenderSpec,
    _frames,
    _planes,
    _stamp,
    _to_yuv,
    _to_yuv420,
    _wave,
)

__all__ = ["edited_frames", "extended_frames", "source_frames"]

#: how strongly an edit pulls the source's colours toward the new prompt's palette
_EDIT_TINT = 0.45


def source_frames(path: Path, width: int, height: int, fps: int, count: int) -> Iterator[Any]:
    """``count`` yuv420p frames of the clip at ``path`` at ``fps``, scaled to the size:
    output frame ``i`` shows what the clip shows at ``i / fps``."""
    if count <= 0:
        return
    try:
        container = av.open(str(path), "r")
    except av.FFmpegError as exc:
        raise ValueError(f"the source clip is not a readable video: {exc}") from exc
    with container:
        if not container.streams.video:
            raise ValueError("the source clip has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index, start, previous = 0, None, None
        try:
            for frame in container.decode(stream):
                at = float(frame.time) if frame.time is not None else index / fps
                start = at if start is None else start
                while previous is not None and index < count and index / fps < at - start:
                    yield _to_yuv420(previous, width, height)
                    index += 1
                if index >= count:
                    return
                previous = frame
        except av.FFmpegError as exc:
            raise ValueError(f"the source clip could not be decoded: {exc}") from exc
        if previous is None:
            raise ValueError("the source clip has no decodable frames")
        while index < count:  # shorter than priced: hold the last frame
            yield _to_yuv420(previous, width, height)
            index += 1


def edited_frames(spec: RenderSpec, look: Look, caption: Caption | None) -> Iterator[Any]:
    """The source's frames with the new prompt's colour cast, shapes and caption."""
    assert spec.source is not None
    total = spec.frame_count
    _, cb, cr = _to_yuv(look.tint)
    luts = [_lut(target) for target in (cb, cr)]
    for index, frame in enumerate(source_frames(spec.source, spec.width, spec.height, spec.fps,
                                                total)):
        u = index / max(total - 1, 1)
        planes = _planes(frame)
        for plane, lut in zip(planes[1:], luts, strict=True):
            lut.take(plane, out=plane)
        _shapes(planes, look, spec, u, 0.5)
        if caption is not None:
            _stamp(planes, caption.sprite, caption.x + 2, caption.y + 2, _to_yuv((0, 0, 0)), 0.8)
            _stamp(planes, caption.sprite, caption.x, caption.y, _to_yuv((255, 255, 255)), 1.0)
        yield frame


def extended_frames(spec: RenderSpec, look: Look, caption: Caption | None) -> Iterator[Any]:
    """The source's frames as they are, then ``spec.seconds`` more that start from its
    last frame (the new segment's frame 0 *is* that frame) and move on from there."""
    assert spec.source is not None
    last: Any = None
    for frame in source_frames(spec.source, spec.width, spec.height, spec.fps,
                               spec.source_seconds * spec.fps):
        if last is not None:
            yield last
        last = frame
    if last is None:
        raise ValueError("the source clip has no frames to extend")
    reference = tuple(plane.copy() for plane in _planes(last))
    yield last
    planes: Planes = (reference[0], reference[1], reference[2])
    yield from _frames(spec, look, planes, caption)


def _lut(target: int) -> Any:
    ramp = np.arange(256) * (1 - _EDIT_TINT) + target * _EDIT_TINT
    return np.round(ramp).astype(np.uint8)


def _shapes(planes: Planes, look: Look, spec: RenderSpec, u: float, opacity: float) -> None:
    for shape in look.shapes:
        x = shape.center[0] + shape.amplitude[0] * _wave(shape.cycles[0], shape.phase[0], u)
        y = shape.center[1] + shape.amplitude[1] * _wave(shape.cycles[1], shape.phase[1], u)
        left = round(x * spec.width - shape.sprite.luma.shape[1] / 2)
        top = round(y * spec.height - shape.sprite.luma.shape[0] / 2)
        _stamp(planes, shape.sprite, left, top, _to_yuv(shape.color), opacity)

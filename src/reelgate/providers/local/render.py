"""The embedded renderer: turns a prompt (and optionally a reference image) into a real MP4.

It lets the gateway run end to end with no upstream at all. The picture is not "AI", but it
is a genuine H.264 file whose content is a deterministic function of the prompt, so
different prompts look different, the same request renders the same frames, and
image-to-video visibly starts from the reference.

Frames are built directly in yuv420p, the encoder's own format: the background is computed
at 1/8 size and upscaled by swscale, the reference image is converted to YUV once, and
shapes and the caption are blended into small regions of the planes with integer numpy.
Frames are encoded one at a time, so a render can run in a worker thread next to an
asyncio server without holding every frame in memory or spending long stretches in Python.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from reelgate.providers.local.look import U8, Caption, Color, Look, Sprite, caption_for, derive_look

__all__ = ["RenderCancelled", "RenderSpec", "render_video"]

_PROGRESS_INTERVAL = 0.05  # seconds between progress callbacks (~20 per second at most)
_BG_DOWNSCALE = 8  # the background field is computed at 1/8 size and upscaled smoothly
_BT709 = 1  # AVCOL_PRI/TRC/SPC_BT709
_RANGE_MPEG = 1  # AVCOL_RANGE_MPEG: limited range, what players expect from H.264

F32 = npt.NDArray[np.float32]
Planes = tuple[U8, U8, U8]


class RenderCancelled(Exception):
    """Raised when ``should_stop()`` asked the render to stop; no output was written."""


@dataclass(frozen=True)
class RenderSpec:
    prompt: str
    width: int
    height: int
    seconds: int  # what is rendered anew: an extension's new segment
    fps: int = 24
    reference: bytes | None = None  # an image file's bytes (jpeg/png/webp) for image-to-video
    variation: str = ""  # extra seed text, e.g. the source video id for a remix
    #: create, edit (the source's frames re-rendered) or extend (the source, then more)
    mode: str = "create"
    source: Path | None = None  # the clip an edit or extension starts from
    source_seconds: int = 0  # how much of it an extension keeps
    characters: tuple[Any, ...] = ()  # CharacterLook (providers.local.characters)

    @property
    def frame_count(self) -> int:
        return self.seconds * self.fps

    @property
    def total_frames(self) -> int:
        """Frames in the output file: an extension's source part included."""
        kept = self.source_seconds * self.fps if self.mode == "extend" else 0
        return kept + self.frame_count


def render_video(
    spec: RenderSpec,
    out_path: Path,
    *,
    preset: str = "veryfast",
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Render ``spec`` to an H.264 MP4 at ``out_path``, atomically (temp file + rename).

    Raises ``ValueError`` for a bad spec or an unreadable reference image, and
    ``RenderCancelled`` if ``should_stop()`` returns True; either way no file is left.
    """
    _validate(spec)
    frames = _frames_for(spec)
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        _encode(spec, tmp, preset, frames, progress, should_stop)
        os.replace(tmp, out_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if progress is not None:
        progress(1.0)


def _frames_for(spec: RenderSpec) -> Iterator[Any]:
    """The frames of ``spec``'s mode, with its characters drawn in."""
    from reelgate.providers.local import derived  # they build on this module's helpers
    from reelgate.providers.local.characters import with_characters

    look = derive_look(spec.prompt, spec.variation, spec.width, spec.height)
    caption = caption_for(spec.prompt, spec.width, spec.height)
    if spec.mode == "edit":
        frames = derived.edited_frames(spec, look, caption)
    elif spec.mode == "extend":
        frames = derived.extended_frames(spec, look, caption)
    else:
        frames = _frames(spec, look, _load_reference(spec.reference, spec.width, spec.height),
                         caption)
    return with_characters(frames, spec.characters, spec.width, spec.height,
                           spec.total_frames)


def _validate(spec: RenderSpec) -> None:
    if spec.width <= 0 or spec.height <= 0 or spec.width % 2 or spec.height % 2:
        raise ValueError(f"size must be positive and even, got {spec.width}x{spec.height}")
    if spec.seconds <= 0 or spec.fps <= 0:
        raise ValueError(f"seconds and fps must be positive, got {spec.seconds}s @ {spec.fps}")
    if spec.mode not in ("create", "edit", "extend"):
        raise ValueError(f"unknown render mode {spec.mode!r}")
    if spec.mode != "create" and spec.source is None:
        raise ValueError(f"an {spec.mode} needs a source clip")


def _encode(
    spec: RenderSpec,
    path: Path,
    preset: str,
    frames: Iterator[Any],
    progress: Callable[[float], None] | None,
    should_stop: Callable[[], bool] | None,
) -> None:
    """Encode frames one by one; a 1/fps time base with pts = index makes the duration exact."""
    total = spec.total_frames
    time_base = Fraction(1, spec.fps)  # not stream.time_base: the muxer rewrites that
    last_report = -math.inf
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = _add_stream(out, spec, preset)
        for index, frame in enumerate(frames):
            if should_stop is not None and should_stop():
                raise RenderCancelled(f"render of {path.name} cancelled at frame {index}")
            frame.pts = index
            frame.time_base = time_base
            for packet in stream.encode(frame):
                out.mux(packet)
            now = time.monotonic()
            if progress is not None and now - last_report >= _PROGRESS_INTERVAL:
                last_report = now
                progress(min((index + 1) / total, 0.99))  # 1.0 only once the file is in place
        for packet in stream.encode(None):
            out.mux(packet)


def _add_stream(out: Any, spec: RenderSpec, preset: str) -> Any:
    stream = out.add_stream("libx264", rate=spec.fps)
    stream.width = spec.width
    stream.height = spec.height
    stream.pix_fmt = "yuv420p"
    stream.time_base = Fraction(1, spec.fps)
    context = stream.codec_context
    context.time_base = Fraction(1, spec.fps)
    context.color_range = _RANGE_MPEG
    context.colorspace = context.color_primaries = context.color_trc = _BT709
    stream.options = {"preset": preset, "crf": "23"}
    return stream


# --- building frames -------------------------------------------------------------------------


def _frames(
    spec: RenderSpec, look: Look, reference: Planes | None, caption: Caption | None
) -> Iterator[Any]:
    """Yield yuv420p ``av.VideoFrame``s lazily, so at most one is alive at a time."""
    grid = _background_grid(spec.width, spec.height)
    total = spec.frame_count
    for index in range(total):
        u = index / max(total - 1, 1)  # 0 at the first frame, 1 at the last
        if reference is None:
            frame = _background(look, grid, index / spec.fps, spec.width, spec.height)
            opacity, text = 1.0, 1.0
        else:  # shapes and caption fade in, so frame 0 is the reference itself
            frame = _ken_burns(reference, look, u)
            opacity, text = 0.6 * u, min(1.0, 4 * u)
        planes = _planes(frame)
        for shape in look.shapes:
            x = shape.center[0] + shape.amplitude[0] * _wave(shape.cycles[0], shape.phase[0], u)
            y = shape.center[1] + shape.amplitude[1] * _wave(shape.cycles[1], shape.phase[1], u)
            left = round(x * spec.width - shape.sprite.luma.shape[1] / 2)
            top = round(y * spec.height - shape.sprite.luma.shape[0] / 2)
            _stamp(planes, shape.sprite, left, top, _to_yuv(shape.color), opacity)
        if caption is not None:
            shadow = (caption.x + 2, caption.y + 2)
            _stamp(planes, caption.sprite, *shadow, _to_yuv((0, 0, 0)), 0.8 * text)
            _stamp(planes, caption.sprite, caption.x, caption.y, _to_yuv((255, 255, 255)), text)
        yield frame


def _wave(cycles: float, phase: float, u: float) -> float:
    return math.sin(2 * math.pi * cycles * u + phase)


def _background_grid(width: int, height: int) -> tuple[F32, F32]:
    xs = np.linspace(0.0, 1.0, -(-width // _BG_DOWNSCALE) + 1, dtype=np.float32)
    ys = np.linspace(0.0, 1.0, -(-height // _BG_DOWNSCALE) + 1, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    return gx, gy


def _background(look: Look, grid: tuple[F32, F32], t: float, width: int, height: int) -> Any:
    """A slowly flowing plasma: three travelling waves through the palette ramp, upscaled."""
    gx, gy = grid
    field = np.zeros_like(gx)
    for kx, ky, speed, phase in look.waves:
        field += np.sin(2 * math.pi * (kx * gx + ky * gy + speed * t * 0.25) + phase)
    index = ((field + 3.0) * (255.0 / 6.0)).astype(np.uint8)
    small = av.VideoFrame.from_ndarray(look.lut[index], format="rgb24")
    return _to_yuv420(small, width, height)


def _ken_burns(reference: Planes, look: Look, u: float) -> Any:
    """Zoom in by up to 15% drifting in a prompt-chosen direction, with a growing tint."""
    luma = reference[0]
    height, width = luma.shape
    ease = u * u * (3 - 2 * u)
    zoom = 1.0 + 0.15 * ease
    box_w, box_h = max(2, _even(width / zoom)), max(2, _even(height / zoom))
    left = _even((width - box_w) / 2 * (1 + look.pan[0]))
    top = _even((height - box_h) / 2 * (1 + look.pan[1]))
    crop = av.VideoFrame(box_w, box_h, "yuv420p")
    for plane, source, scale in zip(_planes(crop), reference, (1, 2, 2), strict=True):
        plane[...] = source[top // scale :, left // scale :][: plane.shape[0], : plane.shape[1]]
    frame = crop.reformat(width=width, height=height, interpolation="BICUBIC")
    if ease > 0.0:  # tint the chroma only: a colour cast, at a quarter of the cost
        _, cb, cr = _to_yuv(look.tint)
        strength = 0.3 * ease
        for plane, target in zip(_planes(frame)[1:], (cb, cr), strict=True):
            lut = np.round(np.arange(256) * (1 - strength) + target * strength).astype(np.uint8)
            np.take(lut, plane, out=plane)
    return frame


def _even(value: float) -> int:
    return round(value / 2) * 2


def _to_yuv420(frame: Any, width: int | None = None, height: int | None = None) -> Any:
    """Convert (and scale) an RGB frame to BT.709 limited-range yuv420p, as tagged on the stream."""
    return frame.reformat(
        width=width,
        height=height,
        format="yuv420p",
        dst_colorspace="ITU709",
        dst_color_range="MPEG",
        interpolation="BICUBIC",
    )


def _planes(frame: Any) -> Planes:
    """Writable numpy views of a yuv420p frame's planes (without the row padding)."""
    views = []
    for plane in frame.planes:
        flat = np.frombuffer(plane, dtype=np.uint8)[: plane.height * plane.line_size]
        views.append(flat.reshape(plane.height, plane.line_size)[:, : plane.width])
    return views[0], views[1], views[2]


def _to_yuv(color: Color) -> Color:
    """BT.709 limited-range YCbCr of an sRGB colour, matching what swscale produces."""
    r, g, b = color
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (
        round(16 + 219 * y / 255),
        round(128 + 224 * (b - y) / 1.8556 / 255),
        round(128 + 224 * (r - y) / 1.5748 / 255),
    )


def _stamp(planes: Planes, sprite: Sprite, x: int, y: int, yuv: Color, opacity: float) -> None:
    """Alpha-blend a solid colour through ``sprite`` at (x, y), clipped to the frame."""
    if opacity <= 0.0:
        return
    weight = round(opacity * 256)
    x, y = x & ~1, y & ~1  # keep luma and chroma aligned
    for plane, alpha, value, scale in zip(
        planes, (sprite.luma, sprite.chroma, sprite.chroma), yuv, (1, 2, 2), strict=True
    ):
        px, py = x // scale, y // scale
        x0, y0 = max(px, 0), max(py, 0)
        x1 = min(px + alpha.shape[1], plane.shape[1])
        y1 = min(py + alpha.shape[0], plane.shape[0])
        if x0 >= x1 or y0 >= y1:
            return
        a = alpha[y0 - py : y1 - py, x0 - px : x1 - px]
        if weight < 256:
            a = ((a * weight) >> 8).astype(np.uint16)
        region = plane[y0:y1, x0:x1]
        region[...] = (region * (256 - a) + a * value) >> 8


def _load_reference(data: bytes | None, width: int, height: int) -> Planes | None:
    """Decode the reference, honour EXIF rotation, cover-crop it and convert it to YUV once."""
    if data is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"reference is not a readable image: {exc}") from exc
    fitted = ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)
    frame = _to_yuv420(av.VideoFrame.from_ndarray(np.asarray(fitted), format="rgb24"))
    y, u, v = _planes(frame)
    return y.copy(), u.copy(), v.copy()

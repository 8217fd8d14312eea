"""Real media for the fakes: H.264 MP4, WEBP thumbnail and JPEG spritesheet.

Encoding is cached per (width, height, seconds) so a test session pays for each
shape once; ultrafast x264 keeps a 4 s 720p clip well under a second.
"""

from __future__ import annotations

import functools
import io
from fractions import Fraction

import av
import numpy as np
from PIL import Image

__all__ = ["FPS", "render_mp4", "render_spritesheet", "render_thumbnail"]

FPS = 24


def _even(value: int) -> int:
    return max(2, value + (value % 2))


def _frame(width: int, height: int, index: int, total: int) -> np.ndarray:
    """A gradient with a bar sweeping across, so frames differ and decode is checkable."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:, :, 0] = np.linspace(30, 200, width, dtype=np.uint8)[None, :]
    image[:, :, 1] = np.linspace(40, 160, height, dtype=np.uint8)[:, None]
    image[:, :, 2] = (index * 255) // max(1, total)
    bar = (index * width) // max(1, total)
    image[:, bar : bar + max(2, width // 40), :] = 255
    return image


@functools.lru_cache(maxsize=32)
def render_mp4(width: int, height: int, seconds: float) -> bytes:
    """An H.264 MP4 of exactly ``seconds`` at ``width``x``height`` (rounded up to even)."""
    width, height = _even(width), _even(height)
    total = max(1, round(seconds * FPS))
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, FPS)
        stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for index in range(total):
            frame = av.VideoFrame.from_ndarray(_frame(width, height, index, total), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@functools.lru_cache(maxsize=32)
def render_thumbnail(width: int, height: int) -> bytes:
    image = Image.fromarray(_frame(_even(width), _even(height), 0, 1))
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=60)
    return out.getvalue()


@functools.lru_cache(maxsize=32)
def render_spritesheet(width: int, height: int, columns: int = 5, rows: int = 2) -> bytes:
    tile_w, tile_h = max(2, width // 8), max(2, height // 8)
    sheet = Image.new("RGB", (tile_w * columns, tile_h * rows))
    for index in range(columns * rows):
        tile = Image.fromarray(_frame(tile_w, tile_h, index, columns * rows))
        sheet.paste(tile, ((index % columns) * tile_w, (index // columns) * tile_h))
    out = io.BytesIO()
    sheet.save(out, format="JPEG", quality=70)
    return out.getvalue()

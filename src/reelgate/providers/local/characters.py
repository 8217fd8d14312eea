"""Characters in the embedded renderer: a still taken from the clip a character was made
from, drawn into every frame of a video that names it, with its name above it.

A character is a folder under the renderer's work directory (``characters/<id>/``)
holding ``look.webp`` (a frame from the middle of its clip) and ``name.txt``; a video
naming it shows that picture moving across the frame on a path chosen by its name,
so what is drawn visibly depends on the characters asked for.
"""

from __future__ import annotations

import hashlib
import io
import math
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from reelgate.media.derive import make_thumbnail
from reelgate.providers.local.look import Caption, caption_for
from reelgate.providers.local.render import Planes, _planes, _stamp, _to_yuv, _to_yuv420

__all__ = ["CharacterLook", "create_character", "load_character", "with_characters"]

_LOOK = "look.webp"
_NAME = "name.txt"


@dataclass(frozen=True)
class CharacterLook:
    name: str
    image: bytes  # a WEBP still of the character's clip


def _dir(work_dir: Path, upstream_id: str) -> Path:
    if not upstream_id.startswith("char_") or not upstream_id[5:].isalnum():
        raise LookupError(f"no such character {upstream_id!r}")
    return work_dir / "characters" / upstream_id


def create_character(work_dir: Path, name: str, clip: Path) -> str:
    """Store the character seen in ``clip``; returns its id (raises ValueError for a clip
    that does not decode)."""
    upstream_id = "char_" + secrets.token_hex(12)
    folder = _dir(work_dir, upstream_id)
    folder.mkdir(parents=True)
    make_thumbnail(clip, folder / _LOOK, max_width=320)
    (folder / _NAME).write_text(name)
    return upstream_id


def load_character(work_dir: Path, upstream_id: str) -> CharacterLook:
    folder = _dir(work_dir, upstream_id)
    try:
        return CharacterLook((folder / _NAME).read_text(), (folder / _LOOK).read_bytes())
    except FileNotFoundError as exc:
        raise LookupError(f"no such character {upstream_id!r}") from exc


@dataclass(frozen=True)
class _Placed:
    planes: Planes
    caption: Caption | None
    path: tuple[float, float, float, float]  # cycles x, cycles y, phase x, phase y


def _place(look: CharacterLook, width: int, height: int) -> _Placed:
    with Image.open(io.BytesIO(look.image)) as opened:
        image = opened.convert("RGB")
    tall = max(16, (min(width, height) // 3) & ~1)
    wide = max(16, round(image.width * tall / max(image.height, 1)) & ~1)
    frame = _to_yuv420(av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24"), wide, tall)
    y, u, v = _planes(frame)
    digest = hashlib.sha256(look.name.encode()).digest()
    path = (0.5 + digest[0] / 255, 0.5 + digest[1] / 255, digest[2] / 40.0, digest[3] / 40.0)
    return _Placed((y.copy(), u.copy(), v.copy()), caption_for(look.name, wide * 3, 96), path)


def _paste(planes: Planes, picture: Planes, x: int, y: int) -> None:
    x, y = x & ~1, y & ~1
    for plane, src, scale in zip(planes, picture, (1, 2, 2), strict=True):
        px, py = x // scale, y // scale
        x0, y0 = max(px, 0), max(py, 0)
        x1, y1 = min(px + src.shape[1], plane.shape[1]), min(py + src.shape[0], plane.shape[0])
        if x0 < x1 and y0 < y1:
            plane[y0:y1, x0:x1] = src[y0 - py: y1 - py, x0 - px: x1 - px]


def with_characters(frames: Iterator[Any], looks: tuple[CharacterLook, ...], width: int,
                    height: int, total: int) -> Iterator[Any]:
    """``frames`` with each character's picture (and name) drawn in, moving."""
    placed = [_place(look, width, height) for look in looks]
    for index, frame in enumerate(frames):
        if placed:
            u = index / max(total - 1, 1)
            planes = _planes(frame)
            for slot, item in enumerate(placed):
                tall, wide = item.planes[0].shape
                cx, cy, px, py = item.path
                x = (0.25 + 0.5 * slot) * width + 0.2 * width * math.sin(2 * math.pi * cx * u + px)
                y = 0.5 * height + 0.15 * height * math.sin(2 * math.pi * cy * u + py)
                left, top = round(x - wide / 2), round(y - tall / 2)
                _paste(planes, item.planes, left, top)
                if item.caption is not None:
                    above = top - item.caption.sprite.luma.shape[0] - 4
                    _stamp(planes, item.caption.sprite, left, above, _to_yuv((255, 255, 255)),
                           1.0)
        yield frame

"""A playable MP4 of any size, written in chunks (never held in memory).

A real short H.264 clip is followed by one top-level ``free`` box that pads the file
to the wanted size. Demuxers skip ``free`` boxes, so gateways that check the file
(reelgate decodes its first frame) accept it, while the transfer is as big as asked.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

__all__ = ["make_big_mp4", "parse_size"]

_CHUNK = 1 << 20
_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """``100m`` -> 104857600; ``1g``; a bare number is bytes."""
    text = text.strip().lower().removesuffix("b")
    if text and text[-1] in _UNITS:
        return int(float(text[:-1]) * _UNITS[text[-1]])
    return int(text)


def make_big_mp4(path: Path, size: int, clip: bytes) -> Path:
    """Write ``clip`` plus padding to ``path`` (exactly ``size`` bytes); reuse it if done."""
    if path.exists() and path.stat().st_size == size:
        return path
    padding = size - len(clip)
    if padding < 16:
        raise ValueError(f"size {size} is smaller than the clip ({len(clip)} bytes) + 16")
    block = os.urandom(_CHUNK)  # incompressible, so no layer can cheat by compressing
    tmp = path.with_suffix(".part")
    with tmp.open("wb") as fh:
        fh.write(clip)
        # size field 1 = a 64-bit "largesize" follows the type
        fh.write(struct.pack(">I4sQ", 1, b"free", padding))
        left = padding - 16
        while left > 0:
            n = min(left, _CHUNK)
            fh.write(block[:n])
            left -= n
    tmp.replace(path)
    return path

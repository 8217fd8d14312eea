"""What a prompt looks like: its palette, background waves, moving shapes and caption.

Everything is derived from a hash of the prompt (and a variation, e.g. the source of
a remix), so the same request always draws the same picture and different prompts
look different. Shapes and the caption are pre-drawn once as alpha sprites.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

__all__ = ["U8", "U16", "Caption", "Color", "Look", "Shape", "Sprite", "caption_for",
           "derive_look"]

_MAX_CAPTION = 60

Color = tuple[int, int, int]
U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]


@dataclass(frozen=True)
class Sprite:
    """An alpha mask (0..256) at luma and at chroma resolution, ready to blend into planes."""

    luma: U16
    chroma: U16

    @classmethod
    def from_mask(cls, mask: Image.Image) -> Sprite:
        even = mask.crop((0, 0, mask.width + mask.width % 2, mask.height + mask.height % 2))
        full = np.asarray(even, dtype=np.uint16)
        half = np.asarray(even.reduce(2), dtype=np.uint16)
        return cls(full + (full >> 7), half + (half >> 7))  # 255 -> 256: exact full cover


@dataclass(frozen=True)
class Shape:
    """One moving sprite in a palette colour, following a prompt-specific Lissajous path."""

    sprite: Sprite
    color: Color
    center: tuple[float, float]  # path centre, as a fraction of width/height
    amplitude: tuple[float, float]  # path half-extent, as a fraction of width/height
    cycles: tuple[float, float]  # full oscillations over the clip, per axis
    phase: tuple[float, float]


@dataclass(frozen=True)
class Look:
    """Everything the picture derives from the prompt hash, computed once per render."""

    lut: U8  # 256 x 3 colour ramp for the background field
    waves: npt.NDArray[np.float64]  # 3 x 4: kx, ky, speed, phase of each plasma wave
    shapes: list[Shape]
    pan: tuple[float, float]  # Ken Burns pan direction, each in [-1, 1]
    tint: Color


@dataclass(frozen=True)
class Caption:
    sprite: Sprite
    x: int
    y: int


def derive_look(prompt: str, variation: str, width: int, height: int) -> Look:
    """Hash the prompt into a palette, a background field and a set of moving shapes."""
    digest = hashlib.sha256(f"{prompt}\x00{variation}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:16], "big"))
    base_hue = float(rng.random())
    spread = float(rng.choice([0.08, 0.33, 0.5, 0.6]))  # analogous .. complementary
    palette = [
        _hsv(base_hue + spread * i, float(rng.uniform(0.45, 0.9)), float(rng.uniform(v, v + 0.3)))
        for i, v in enumerate((0.25, 0.45, 0.6, 0.65, 0.7))
    ]
    waves = np.column_stack(
        [
            rng.uniform(-2.2, 2.2, 3),  # spatial frequency across the width (cycles)
            rng.uniform(-2.2, 2.2, 3),  # spatial frequency across the height
            rng.uniform(0.3, 1.2, 3) * rng.choice([-1.0, 1.0], 3),  # drift speed
            rng.uniform(0.0, 2 * math.pi, 3),
        ]
    )
    short = min(width, height)
    shapes = [_make_shape(rng, palette, short) for _ in range(int(rng.integers(3, 7)))]
    pan = (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)))
    return Look(_ramp(palette[:3]), waves, shapes, pan, palette[3])


def _hsv(h: float, s: float, v: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(s, 1.0), min(v, 1.0))
    return (round(r * 255), round(g * 255), round(b * 255))


def _ramp(colors: list[Color]) -> U8:
    """A 256-entry colour lookup table that runs through ``colors`` and back (no seams)."""
    stops = np.array([*colors, colors[0]], dtype=np.float64)
    x = np.linspace(0.0, len(colors), 256)
    channels = [np.interp(x, np.arange(len(stops)), stops[:, c]) for c in range(3)]
    return np.clip(np.column_stack(channels), 0, 255).astype(np.uint8)


def _make_shape(rng: np.random.Generator, palette: list[Color], short: int) -> Shape:
    size = max(8, int(short * rng.uniform(0.08, 0.24)))
    kind = int(rng.integers(0, 3))
    mask = _shape_mask(kind, size, float(rng.uniform(0.55, 0.9)))
    return Shape(
        sprite=Sprite.from_mask(mask),
        color=palette[int(rng.integers(2, len(palette)))],
        center=(float(rng.uniform(0.25, 0.75)), float(rng.uniform(0.25, 0.75))),
        amplitude=(float(rng.uniform(0.1, 0.4)), float(rng.uniform(0.1, 0.35))),
        cycles=(float(rng.uniform(0.6, 2.4)), float(rng.uniform(0.6, 2.4))),
        phase=(float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0, 2 * math.pi))),
    )


def _shape_mask(kind: int, size: int, opacity: float) -> Image.Image:
    """An anti-aliased soft disc (0), ring (1) or rounded square (2) as an "L" mask."""
    axis = np.arange(size, dtype=np.float32) - (size - 1) / 2
    x, y = np.meshgrid(axis, axis)
    radius = size / 2 - 1
    if kind == 0:
        dist = np.hypot(x, y) - radius
    elif kind == 1:
        dist = np.abs(np.hypot(x, y) - radius * 0.75) - radius * 0.2
    else:
        corner = radius * 0.3
        qx, qy = np.abs(x) - (radius - corner), np.abs(y) - (radius - corner)
        dist = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) - corner
    alpha = np.clip(0.5 - dist, 0.0, 1.0) * (255 * opacity)
    return Image.fromarray(alpha.astype(np.uint8), "L")


def caption_for(prompt: str, width: int, height: int) -> Caption | None:
    """Pre-draw a one-line caption mask (Latin-1 only: the default font has little else)."""
    text = " ".join("".join(c for c in prompt if " " <= c <= "\xff").split())
    if not text or height < 64:
        return None
    if len(text) > _MAX_CAPTION:
        text = text[: _MAX_CAPTION - 3].rstrip() + "..."
    size = max(10, height // 28)
    try:
        font: Any = ImageFont.load_default(size)
    except (OSError, ImportError):  # Pillow built without FreeType: small bitmap font
        font = ImageFont.load_default()
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font)
    mask = Image.new("L", (int(min(right - left, width - 2 * size)), int(bottom - top)))
    ImageDraw.Draw(mask).text((-left, -top), text, fill=230, font=font)
    return Caption(Sprite.from_mask(mask), size, height - size - mask.height)

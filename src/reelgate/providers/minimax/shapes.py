"""Our ``WxH`` sizes in MiniMax's terms, and back.

V1 (Hailuo 02 / 2.3) takes only a resolution tier (``512P``, ``720P``, ``768P``,
``1080P``): text-to-video renders landscape, image-to-video follows the image; the
task answer names the pixels it rendered (``video_width``/``video_height``).
V2 (MiniMax-H3) takes a tier (``768P`` or ``2K``) and a ratio, and answers with both,
so the rendered size is computed from them with the same table.
"""

from __future__ import annotations

import math

__all__ = ["V2_RATIOS", "v1_resolution", "v2_ratio", "v2_resolution", "v2_size"]

_V1_TIERS = (512, 720, 768, 1080)
V2_RATIOS = ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
_V2_SHORT = {"768P": 768, "2K": 1440}


def v1_resolution(width: int, height: int) -> str:
    """The V1 tier whose short side is nearest ours: 1366x768 → ``768P``."""
    short = min(width, height)
    return f"{min(_V1_TIERS, key=lambda tier: abs(tier - short))}P"


def v2_resolution(width: int, height: int) -> str:
    """``2K`` from a 1440p short side up, else ``768P``."""
    return "2K" if min(width, height) >= 1440 else "768P"


def v2_ratio(width: int, height: int) -> str:
    """The supported ratio closest to ``width/height`` (compared on a log scale)."""
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        a, b = ratio.split(":")
        return abs(math.log(int(a) / int(b)) - target)

    return min(V2_RATIOS, key=distance)


def v2_size(resolution: object, ratio: object) -> str | None:
    """``"768P"`` + ``"16:9"`` → ``"1366x768"``; None for anything else (``adaptive``)."""
    if not isinstance(resolution, str) or not isinstance(ratio, str):
        return None
    short = _V2_SHORT.get(resolution.upper())
    if short is None or ratio not in V2_RATIOS:
        return None
    a, b = (int(part) for part in ratio.split(":"))
    long = 2 * round(short * max(a, b) / min(a, b) / 2)
    return f"{long}x{short}" if a >= b else f"{short}x{long}"

"""The model catalog: which models exist, what they can render, and list prices.

This is the one table the validator, the pricer and ``GET /v1/models`` read. Sizes and
durations come from the seed document (sora-2 is 720p only; sora-2-pro adds 1024p and
1080p; seconds are the strings "4", "8", "12"). Other providers' models are rows here,
not code. Prices are integer micro-USD per rendered second.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

__all__ = ["CATALOG", "Catalog", "ModelSpec", "usd"]

PORTRAIT_720 = "720x1280"
LANDSCAPE_720 = "1280x720"


def usd(dollars: str) -> int:
    """Micro-USD from a decimal string, so no float ever touches money."""
    whole, _, frac = dollars.partition(".")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


@dataclass(frozen=True)
class ModelSpec:
    id: str
    owned_by: str
    quality: str
    #: size -> list price in micro-USD per second
    prices: Mapping[str, int]
    seconds: tuple[str, ...]
    default_size: str
    default_seconds: str
    supports_reference: bool = True
    supports_remix: bool = True
    description: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sizes(self) -> tuple[str, ...]:
        return tuple(self.prices)


_SORA_SECONDS = ("4", "8", "12")


def _vidu_prices(p540: str, p720: str, p1080: str) -> dict[str, int]:
    """Vidu's 16:9 and 9:16 sizes at its 540p, 720p and 1080p resolutions."""
    return {"960x540": usd(p540), "540x960": usd(p540), LANDSCAPE_720: usd(p720),
            PORTRAIT_720: usd(p720), "1920x1080": usd(p1080), "1080x1920": usd(p1080)}


def _kling_prices(p720: str, p1080: str) -> dict[str, int]:
    """Kling's 16:9 and 9:16 sizes at mode std (720p) and pro (1080p)."""
    return {LANDSCAPE_720: usd(p720), PORTRAIT_720: usd(p720),
            "1920x1080": usd(p1080), "1080x1920": usd(p1080)}

_DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="sora-2",
        owned_by="openai",
        quality="standard",
        prices={PORTRAIT_720: usd("0.10"), LANDSCAPE_720: usd("0.10")},
        seconds=_SORA_SECONDS,
        default_size=PORTRAIT_720,
        default_seconds="4",
        description="Sora 2, 720p",
    ),
    ModelSpec(
        id="sora-2-pro",
        owned_by="openai",
        quality="high",
        prices={
            PORTRAIT_720: usd("0.30"),
            LANDSCAPE_720: usd("0.30"),
            "1024x1792": usd("0.50"),
            "1792x1024": usd("0.50"),
            "1080x1920": usd("0.70"),
            "1920x1080": usd("0.70"),
        },
        seconds=_SORA_SECONDS,
        default_size=PORTRAIT_720,
        default_seconds="4",
        description="Sora 2 Pro, 720p / 1024p / 1080p",
    ),
    ModelSpec(
        id="veo-3.1",
        owned_by="google",
        quality="high",
        # 720p only: the Gemini API renders 1080p at 8 s alone, a pairing the
        # catalog's flat size x seconds grid cannot say, so it is left out
        prices={LANDSCAPE_720: usd("0.40"), PORTRAIT_720: usd("0.40")},
        seconds=("4", "6", "8"),
        default_size=LANDSCAPE_720,
        default_seconds="8",
        supports_remix=False,
        description="Google Veo 3.1 (Gemini API), 16:9 or 9:16 at 720p",
    ),
    ModelSpec(
        id="seedance-1.0-pro",
        owned_by="bytedance",
        quality="standard",
        prices={
            # Ark takes a resolution and a ratio; these are the sizes those name
            "854x480": usd("0.02"),
            "480x854": usd("0.02"),
            LANDSCAPE_720: usd("0.05"),
            PORTRAIT_720: usd("0.05"),
            "1920x1080": usd("0.12"),
            "1080x1920": usd("0.12"),
        },
        seconds=("5", "10"),
        default_size=LANDSCAPE_720,
        default_seconds="5",
        supports_remix=False,
        description="ByteDance Seedance 1.0 Pro (Volcengine Ark / BytePlus)",
    ),
    # Kling: 720p is mode "std", 1080p "pro", 2160p "4k" (v3). Prices are Kling's unit
    # prices at $0.14 a unit, as mirrored from kling.ai/document-api/pricing (the page
    # itself was not read), without audio. 1:1 is left out: its rendered size is not
    # documented. No size x seconds rule applies: every duration at every mode.
    ModelSpec(
        id="kling-v2.5-turbo",
        owned_by="kuaishou",
        quality="standard",
        prices=_kling_prices("0.042", "0.07"),  # 1.5 / 2.5 units per 5 s
        seconds=("5", "10"),
        default_size=LANDSCAPE_720,
        default_seconds="5",
        supports_remix=False,
        description="Kling 2.5 Turbo: 720p (std) or 1080p (pro), 5 or 10 s",
        aliases=("kling-v2-5-turbo",),
    ),
    ModelSpec(
        id="kling-v2.6",
        owned_by="kuaishou",
        quality="standard",
        prices=_kling_prices("0.042", "0.07"),  # 1.5 / 2.5 units per 5 s, no audio
        seconds=("5", "10"),
        default_size=LANDSCAPE_720,
        default_seconds="5",
        supports_remix=False,
        description="Kling 2.6: 720p (std) or 1080p (pro), 5 or 10 s",
        aliases=("kling-v2-6",),
    ),
    ModelSpec(
        id="kling-v3",
        owned_by="kuaishou",
        quality="high",
        prices={  # 0.6 / 0.8 / 3.0 units per second, no audio
            **_kling_prices("0.084", "0.112"),
            "3840x2160": usd("0.42"),
            "2160x3840": usd("0.42"),
        },
        seconds=tuple(str(s) for s in range(3, 16)),  # any whole second from 3 to 15
        default_size=LANDSCAPE_720,
        default_seconds="5",
        supports_remix=False,
        description="Kling 3.0: 720p (std), 1080p (pro) or 4K, 3 to 15 s",
        aliases=("kling-3.0",),
    ),
    # Vidu: Vidu sells credits, not seconds, and its per-model credit table was not
    # read from a primary source, so these are OPERATOR-SET prices: set your own with
    # `reelgate prices set`. 4:3, 3:4 and 1:1 are left out (rendered sizes undocumented).
    ModelSpec(
        id="viduq3-pro",
        owned_by="shengshu",
        quality="high",
        prices=_vidu_prices("0.07", "0.15", "0.16"),  # operator-set price
        seconds=tuple(str(s) for s in range(1, 17)),
        default_size=LANDSCAPE_720,
        default_seconds="5",
        supports_remix=False,
        description="Vidu Q3 Pro: 540p/720p/1080p, 1-16 s (operator-set price)",
        aliases=("vidu-q3-pro",),
    ),
    ModelSpec(
        id="viduq3-turbo",
        owned_by="shengshu",
        quality="standard",
        prices=_vidu_prices("0.04", "0.08", "0.10"),  # operator-set price
        seconds=tuple(str(s) for s in range(1, 17)),
        default_size=LANDSCAPE_720,
        default_seconds="5",
        supports_remix=False,
        description="Vidu Q3 Turbo: 540p/720p/1080p, 1-16 s (operator-set price)",
        aliases=("vidu-q3-turbo",),
    ),
    ModelSpec(
        id="viduq2",
        owned_by="shengshu",
        quality="standard",
        prices=_vidu_prices("0.03", "0.05", "0.10"),  # operator-set price
        seconds=tuple(str(s) for s in range(1, 11)),
        default_size=LANDSCAPE_720,
        default_seconds="5",
        # image-to-video needs Vidu's viduq2-pro/-turbo, which do not do text: not offered
        supports_reference=False,
        supports_remix=False,
        description="Vidu Q2, text to video: 540p/720p/1080p, 1-10 s (operator-set price)",
        aliases=("vidu-q2",),
    ),
    ModelSpec(
        id="viduq1",
        owned_by="shengshu",
        quality="standard",
        prices={"1920x1080": usd("0.08"), "1080x1920": usd("0.08")},  # operator-set price
        seconds=("5",),
        default_size="1920x1080",
        default_seconds="5",
        supports_remix=False,
        description="Vidu Q1: 1080p, 5 s (operator-set price)",
        aliases=("vidu-q1",),
    ),
    ModelSpec(
        id="wan-2.2-local",
        owned_by="self-hosted",
        quality="standard",
        # operator-set price: the GPUs are yours, so is the price (`reelgate prices set`).
        # Sizes are Wan 2.2 TI2V-5B's 720p (1280x704, sides multiples of 32) and 480p.
        prices={
            "1280x704": usd("0.02"),
            "704x1280": usd("0.02"),
            "832x480": usd("0.01"),
            "480x832": usd("0.01"),
        },
        seconds=("2", "3", "4", "5"),
        default_size="1280x704",
        default_seconds="5",
        supports_remix=False,
        description="Wan 2.2 on your own GPUs (ComfyUI or vLLM-Omni); operator-set price",
    ),
)


class Catalog:
    """Lookup over model specs; aliases resolve to their model."""

    def __init__(self, models: tuple[ModelSpec, ...] = _DEFAULT_MODELS) -> None:
        self._models = {m.id: m for m in models}
        self._aliases = {a: m.id for m in models for a in m.aliases}

    def get(self, model_id: str) -> ModelSpec | None:
        return self._models.get(self._aliases.get(model_id, model_id))

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._models.values())

    def ids(self) -> tuple[str, ...]:
        return tuple(self._models)

    def list_price(self, model_id: str, size: str) -> int:
        spec = self._models[model_id]
        return spec.prices[size]


CATALOG = Catalog()

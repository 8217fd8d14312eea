"""The local renderer produces real, exact, deterministic H.264 files and honours its hooks."""

from __future__ import annotations

import io
import os
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from reelgate.providers.local.render import RenderCancelled, RenderSpec, render_video

FAST = "ultrafast"


def _decode(path: Path) -> tuple[Any, list[np.ndarray]]:
    """The stream facts and every frame as RGB (small test videos only)."""
    container: Any
    with av.open(str(path)) as container:
        stream: Any = container.streams.video[0]
        facts = {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "rate": stream.average_rate,
            "duration": stream.duration * stream.time_base,
            "container_duration": Fraction(container.duration, av.time_base),
            "header_frames": stream.frames,
        }
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    return facts, frames


def _image_bytes(color: tuple[int, int, int], size: tuple[int, int], fmt: str = "PNG") -> bytes:
    """A reference image: a solid colour with a contrasting block, so it has structure."""
    image = Image.new("RGB", size, color)
    image.paste(
        (255 - color[0], 255 - color[1], 255 - color[2]), (0, 0, size[0] // 4, size[1] // 4)
    )
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_output_is_exact_h264(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    render_video(RenderSpec("a lighthouse in a storm", 160, 96, 2), out, preset=FAST)
    facts, frames = _decode(out)
    assert facts["codec"] == "h264"
    assert facts["pix_fmt"] == "yuv420p"
    assert (facts["width"], facts["height"]) == (160, 96)
    assert facts["rate"] == 24
    assert facts["duration"] == 2
    assert facts["container_duration"] == 2
    assert facts["header_frames"] == 48
    assert len(frames) == 48
    assert all(frame.shape == (96, 160, 3) for frame in frames)
    assert _diff(frames[0], frames[-1]) > 2, "the picture must move"
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"], "no temp file left behind"


def test_moov_atom_first(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    render_video(RenderSpec("faststart", 64, 64, 1), out, preset=FAST)
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")


def test_other_fps_keeps_exact_duration(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    render_video(RenderSpec("thirty", 64, 48, 1, fps=30), out, preset=FAST)
    facts, frames = _decode(out)
    assert len(frames) == 30
    assert facts["duration"] == 1


def test_same_spec_same_frames_and_prompts_differ(tmp_path: Path) -> None:
    a, b, c, d = (tmp_path / f"{n}.mp4" for n in "abcd")
    render_video(RenderSpec("a red fox in the snow", 128, 72, 1), a, preset=FAST)
    render_video(RenderSpec("a red fox in the snow", 128, 72, 1), b, preset=FAST)
    render_video(RenderSpec("a blue whale at sea", 128, 72, 1), c, preset=FAST)
    render_video(RenderSpec("a red fox in the snow", 128, 72, 1, variation="v1"), d, preset=FAST)
    frames_a, frames_b = _decode(a)[1], _decode(b)[1]
    assert all(np.array_equal(x, y) for x, y in zip(frames_a, frames_b, strict=True))
    assert _diff(frames_a[0], _decode(c)[1][0]) > 10, "different prompts look different"
    assert _diff(frames_a[0], _decode(d)[1][0]) > 10, "a remix variation looks different"


def test_reference_is_the_first_frame_then_animates(tmp_path: Path) -> None:
    color = (200, 60, 40)
    reference = _image_bytes(color, (400, 300), "JPEG")  # 4:3, cover-cropped to 16:9
    out = tmp_path / "i2v.mp4"
    render_video(RenderSpec("sunset", 160, 90, 2, reference=reference), out, preset=FAST)
    _, frames = _decode(out)
    expected = np.asarray(
        Image.open(io.BytesIO(reference)).convert("RGB").resize((160, 120)).crop((0, 15, 160, 105))
    )
    assert _diff(frames[0], expected) < 8, "frame 0 is the cover-cropped reference"
    assert np.abs(frames[0].mean(axis=(0, 1)) - expected.mean(axis=(0, 1))).max() < 6
    assert _diff(frames[-1], expected) > _diff(frames[0], expected) + 3, "it then animates"
    without = tmp_path / "t2v.mp4"
    render_video(RenderSpec("sunset", 160, 90, 2), without, preset=FAST)
    assert _diff(frames[0], _decode(without)[1][0]) > 20


def test_caption_only_fades_in_over_a_reference(tmp_path: Path) -> None:
    solid = io.BytesIO()
    Image.new("RGB", (320, 180), (90, 140, 60)).save(solid, format="PNG")
    out = tmp_path / "v.mp4"
    render_video(RenderSpec("caption", 320, 180, 1, reference=solid.getvalue()), out, preset=FAST)
    _, frames = _decode(out)
    bottom_left = (slice(120, 180), slice(0, 160))
    assert np.abs(frames[0][bottom_left].astype(int) - (90, 140, 60)).max() < 8
    text_view = tmp_path / "t2v.mp4"
    render_video(RenderSpec("caption", 320, 180, 1), text_view, preset=FAST)
    assert (_decode(text_view)[1][0][bottom_left] > 200).all(axis=2).any(), "white caption"


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_reference_formats(tmp_path: Path, fmt: str) -> None:
    reference = _image_bytes((30, 90, 220), (64, 64), fmt)
    out = tmp_path / "v.mp4"
    render_video(RenderSpec("blue", 96, 64, 1, reference=reference), out, preset=FAST)
    frame0 = _decode(out)[1][0]
    assert frame0.shape == (64, 96, 3)
    assert abs(float(frame0[40:, 40:, 2].mean()) - 220) < 10  # the solid part stays blue


def test_unreadable_reference_raises_value_error(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    with pytest.raises(ValueError, match="reference"):
        render_video(RenderSpec("x", 64, 64, 1, reference=b"not an image"), out, preset=FAST)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "spec",
    [RenderSpec("odd", 65, 64, 1), RenderSpec("zero", 0, 64, 1), RenderSpec("short", 64, 64, 0)],
)
def test_invalid_spec_raises_value_error(tmp_path: Path, spec: RenderSpec) -> None:
    with pytest.raises(ValueError):
        render_video(spec, tmp_path / "v.mp4", preset=FAST)


def test_progress_is_monotonic_and_ends_at_one(tmp_path: Path) -> None:
    seen: list[float] = []
    render_video(RenderSpec("p", 64, 64, 2), tmp_path / "v.mp4", preset=FAST, progress=seen.append)
    assert seen, "progress is reported"
    assert seen == sorted(seen)
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert seen[-1] == 1.0
    assert seen.count(1.0) == 1
    assert len(seen) <= 48 + 1  # never more than once per frame


def test_cancel_removes_temp_file(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    calls = 0

    def stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > 10

    seen: list[float] = []
    with pytest.raises(RenderCancelled):
        render_video(
            RenderSpec("c", 64, 64, 4), out, preset=FAST, progress=seen.append, should_stop=stop
        )
    assert list(tmp_path.iterdir()) == []
    assert 1.0 not in seen


def test_cancel_keeps_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    render_video(RenderSpec("first", 64, 64, 1), out, preset=FAST)
    before = out.read_bytes()
    stop = threading.Event()
    stop.set()
    with pytest.raises(RenderCancelled):
        render_video(RenderSpec("second", 64, 64, 1), out, preset=FAST, should_stop=stop.is_set)
    assert out.read_bytes() == before
    assert os.listdir(tmp_path) == ["v.mp4"]


def test_catalog_size_720p(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    render_video(RenderSpec("a catalog-sized render", 1280, 720, 4), out, preset=FAST)
    with av.open(str(out)) as container:
        stream: Any = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (1280, 720)
        assert stream.duration * stream.time_base == 4
        frames = 0
        for frame in container.decode(stream):
            assert (frame.width, frame.height) == (1280, 720)
            frames += 1
    assert frames == 96

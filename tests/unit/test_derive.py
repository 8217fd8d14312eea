"""Thumbnails, spritesheets and probing cut from real MP4 files on disk."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from reelgate.media.derive import VideoInfo, make_spritesheet, make_thumbnail, probe

FPS = 24


def _write_video(path: Path, width: int, height: int, frames: int, fps: int = FPS) -> None:
    """A video of flat frames that encode their own index (see ``_color``), so a decoded
    image tells which frame, and so which time, it came from."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "10"}
        for i in range(frames):
            pixels = np.empty((height, width, 3), np.uint8)
            pixels[...] = _color(i)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


_LEVELS = 24  # distinct levels per channel, 9 apart: far above compression error


def _color(index: int) -> tuple[int, int, int]:
    """Red counts whole blocks of 24 frames, green and blue the frame within the block."""
    high, low = divmod(index % (_LEVELS * _LEVELS), _LEVELS)
    return (20 + 9 * high, 20 + 9 * low, 20 + 9 * low)


def _frame_index(tile: Image.Image) -> int:
    """Which frame a flat tile came from (modulo 576 frames, i.e. 24 s at 24 fps)."""
    r, g, b = np.asarray(tile.convert("RGB"), dtype=np.float64).mean(axis=(0, 1))
    high = min(range(_LEVELS), key=lambda i: abs(20 + 9 * i - r))
    low = min(range(_LEVELS), key=lambda i: abs(20 + 9 * i - (g + b) / 2))
    return high * _LEVELS + low


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("derive") / "clip.mp4"
    _write_video(path, 320, 180, 4 * FPS)
    return path


def test_probe(clip: Path) -> None:
    assert probe(clip) == VideoInfo(width=320, height=180, seconds=4.0, frames=96, codec="h264")


def test_thumbnail_is_webp_from_one_second(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "thumb.webp"
    make_thumbnail(clip, out)
    with Image.open(out) as image:
        assert image.format == "WEBP"
        assert image.size == (320, 180)  # never upscaled past the source
        assert _frame_index(image) == FPS  # frame 24 is at 1.0 s
    assert [p.name for p in tmp_path.iterdir()] == ["thumb.webp"]


def test_thumbnail_scales_down_keeping_aspect(tmp_path: Path) -> None:
    source = tmp_path / "wide.mp4"
    _write_video(source, 1280, 720, 12)
    out = tmp_path / "thumb.webp"
    make_thumbnail(source, out, max_width=200)
    with Image.open(out) as image:
        assert image.format == "WEBP"
        assert image.size == (200, 112)  # 200 * 720 / 1280 = 112.5 -> 112
        assert _frame_index(image) == 6  # a 0.5 s clip: the middle frame


def test_thumbnail_replaces_existing_file(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "thumb.webp"
    out.write_bytes(b"stale")
    make_thumbnail(clip, out, max_width=100)
    with Image.open(out) as image:
        assert image.size == (100, 56)


def test_spritesheet_grid_of_evenly_spaced_frames(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "sprite.webp"
    make_spritesheet(clip, out, columns=5, rows=2, tile_width=160)
    with Image.open(out) as sheet:
        assert sheet.format == "WEBP"
        assert sheet.size == (5 * 160, 2 * 90)
        tiles = [
            sheet.crop((c * 160, r * 90, (c + 1) * 160, (r + 1) * 90))
            for r in (0, 1)
            for c in range(5)
        ]
    # tile i shows the middle of slice i: t = (i + 0.5) * 0.4 s -> frame round-up of t * 24
    expected = [math.ceil((i + 0.5) * 0.4 * FPS - 1e-6) for i in range(10)]
    assert [_frame_index(tile) for tile in tiles] == expected


def test_spritesheet_seeks_in_long_video(tmp_path: Path) -> None:
    source = tmp_path / "long.mp4"
    _write_video(source, 64, 36, 60 * FPS)  # 60 s: tiles 12 s apart, keyframes ~10 s apart
    out = tmp_path / "sprite.webp"
    make_spritesheet(source, out, columns=5, rows=1, tile_width=32)
    with Image.open(out) as sheet:
        assert sheet.size == (160, 18)
        tiles = [sheet.crop((c * 32, 0, (c + 1) * 32, 18)) for c in range(5)]
    expected = [((i * 12 + 6) * FPS) % (_LEVELS * _LEVELS) for i in range(5)]
    assert [_frame_index(tile) for tile in tiles] == expected


def test_spritesheet_of_very_short_video(tmp_path: Path) -> None:
    source = tmp_path / "short.mp4"
    _write_video(source, 64, 64, 3)
    out = tmp_path / "sprite.webp"
    make_spritesheet(source, out, columns=5, rows=2, tile_width=50)
    with Image.open(out) as sheet:
        assert sheet.size == (250, 100)


def test_rendered_catalog_video(tmp_path: Path) -> None:
    from reelgate.providers.local.render import RenderSpec, render_video

    source = tmp_path / "render.mp4"
    render_video(RenderSpec("derive me", 1280, 720, 4), source, preset="ultrafast")
    assert probe(source) == VideoInfo(1280, 720, 4.0, 96, "h264")
    make_thumbnail(source, tmp_path / "t.webp")
    make_spritesheet(source, tmp_path / "s.webp")
    with Image.open(tmp_path / "t.webp") as thumb, Image.open(tmp_path / "s.webp") as sheet:
        assert (thumb.format, thumb.size) == ("WEBP", (640, 360))
        assert (sheet.format, sheet.size) == ("WEBP", (800, 180))


@pytest.mark.parametrize("content", [b"", b"definitely not a video" * 100])
def test_not_a_video_raises_value_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.mp4"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"fake\.mp4"):
        probe(path)
    with pytest.raises(ValueError):
        make_thumbnail(path, tmp_path / "t.webp")
    with pytest.raises(ValueError):
        make_spritesheet(path, tmp_path / "s.webp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.mp4"]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_still_image_is_not_a_video(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"picture.{fmt.lower()}"
    Image.new("RGB", (32, 32), (1, 2, 3)).save(path, format=fmt)
    with pytest.raises(ValueError, match="still image"):  # FFmpeg would demux it as 1 frame
        probe(path)


def test_truncated_mp4_raises_value_error(clip: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[:2000])
    with pytest.raises(ValueError):
        probe(broken)


def test_audio_only_file_raises_value_error(tmp_path: Path) -> None:
    path = tmp_path / "audio.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 48000
        for i in range(5):
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(ValueError, match="no video stream"):
        probe(path)


def test_missing_file_is_not_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "missing.mp4")

"""Small helpers for end-to-end tests against a live gateway."""

from __future__ import annotations

import io
import time

import av
import openai
from openai.types import Video
from PIL import Image


def wait_done(client: openai.OpenAI, video_id: str, timeout: float = 90.0) -> Video:
    deadline = time.monotonic() + timeout
    while True:
        video = client.videos.retrieve(video_id)
        if video.status in ("completed", "failed"):
            return video
        if time.monotonic() > deadline:
            raise AssertionError(f"{video_id} still {video.status} after {timeout}s")
        time.sleep(0.25)


def decode_info(data: bytes) -> tuple[int, int, float, int]:
    """(width, height, duration seconds, frames) of an MP4, by decoding it."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        duration = float(container.duration or 0) / 1_000_000
        return stream.codec_context.width, stream.codec_context.height, duration, frames


def png(width: int, height: int, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()

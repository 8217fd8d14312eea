"""kill -9 of the gateway in the middle of rendering loses no job."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest

from tests.integration.helpers import decode_info, wait_done
from tests.support.server import GatewayProcess


def test_kill9_mid_render_then_restart_finishes_every_job(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path / "gw", env={"REELGATE_RENDER_CONCURRENCY": "1"})
    gw.start()
    key = gw.create_key("restart")
    client = openai.OpenAI(api_key=key, base_url=gw.base_url, max_retries=0)
    try:
        ids = [client.videos.create(model="sora-2-pro", prompt=f"restart {i}", seconds="12",
                                    size="1920x1080").id for i in range(3)]
        deadline = time.monotonic() + 60
        mid_render = False
        while time.monotonic() < deadline and not mid_render:  # kill with one half rendered
            videos = [client.videos.retrieve(i) for i in ids]
            mid_render = any(v.status == "in_progress" and (v.progress or 0) >= 20
                             for v in videos)
            time.sleep(0.05)
        assert mid_render
        statuses_before = [v.status for v in videos]
        assert statuses_before.count("completed") <= 1, statuses_before  # work is left
        gw.kill9()
        gw.start()
        for vid in ids:
            done = wait_done(client, vid, timeout=120)
            assert done.status == "completed", done
            width, height, duration, _ = decode_info(client.videos.download_content(vid).read())
            assert (width, height) == (1920, 1080)
            assert duration == pytest.approx(12.0, abs=0.05)
        assert sorted(v.id for v in client.videos.list()) == sorted(ids)
    finally:
        gw.stop()

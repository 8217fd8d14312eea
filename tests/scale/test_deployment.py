"""N API processes and M worker processes on one database, as on several machines.

Each process has its own data directory and shares only the database, the media
storage and the secret key. Here on SQLite, where the processes share one file that
must survive intact; on PostgreSQL, test_chaos.py does the same with kills.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import openai
import pytest

from tests.fakes import OpenAIFake
from tests.integration.helpers import decode_info
from tests.scale.support import Deployment
from tests.support.server import TEST_DATABASE

FAST = {"REELGATE_LEASE_SECONDS": "2", "REELGATE_POLL_MIN_SECONDS": "0.3",
        "REELGATE_POLL_MAX_SECONDS": "1", "REELGATE_IDLE_SECONDS": "0.2"}


def _wait_all(clients: list[openai.OpenAI], ids: list[str], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    status: dict[str, str] = {}
    while time.monotonic() < deadline:
        for n, vid in enumerate(ids):
            if status.get(vid) not in ("completed", "failed"):
                status[vid] = clients[n % len(clients)].videos.retrieve(vid).status
        if all(s in ("completed", "failed") for s in status.values()):
            return status
        time.sleep(0.3)
    raise AssertionError(f"not finished in {timeout}s: {Counter(status.values())}")


@pytest.mark.skipif(TEST_DATABASE == "postgres",
                    reason="on PostgreSQL test_chaos.py runs the same and more, with kills")
def test_two_apis_and_two_workers_finish_every_job_once_despite_a_killed_worker(
    tmp_path: Path, upstream: tuple[OpenAIFake, str]
) -> None:
    fake, base_url = upstream
    fake.reset()
    dep = Deployment(tmp_path, env=FAST)
    try:
        dep.add_fake_channel(base_url)
        workers = [dep.add_worker(), dep.add_worker()]
        dep.add_apis(2)
        key = dep.create_key()
        clients = [openai.OpenAI(api_key=key, base_url=api.base_url, max_retries=0)
                   for api in dep.apis]
        ids = [clients[i % 2].videos.create(model="sora-2", prompt=f"scale {i}", seconds="4",
                                            size="1280x720").id for i in range(16)]
        time.sleep(0.8)
        workers[0].kill9()  # its leased jobs must be taken over by the other worker
        status = _wait_all(clients, ids, timeout=90)
        assert Counter(status.values()) == {"completed": 16}

        # every job went upstream exactly once, always with its own key
        creates = [r for r in fake.requests if r.method == "POST" and r.status == 200]
        assert len(creates) == 16
        assert fake.wrong_key == []
        # and reached its terminal state exactly once
        assert dep.terminal_entries() == dict.fromkeys(ids, 1)
        # any API process serves any job's file (shared storage)
        data = clients[1].videos.download_content(ids[0]).read()
        assert decode_info(data)[:2] == (1280, 720)
        assert workers[1].alive()
        assert dep.query("PRAGMA integrity_check") == [("ok",)]  # one file, five processes
    finally:
        dep.stop()

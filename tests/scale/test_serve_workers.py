"""`reelgate serve --workers 2`: two uvicorn processes, each with its own in-process
worker, share the port and the database."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from tests.fakes import OpenAIFake
from tests.integration.helpers import wait_done
from tests.scale.conftest import LIVE_ENV
from tests.scale.support import Deployment
from tests.support.server import TEST_DATABASE, GatewayProcess


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(TEST_DATABASE == "postgres", reason="database-agnostic; once is enough")
def test_serve_with_two_processes_shares_port_and_jobs(
    tmp_path: Path, upstream: tuple[OpenAIFake, str]
) -> None:
    dep = Deployment(tmp_path, env=LIVE_ENV)
    dep.add_fake_channel(upstream[1])
    api = GatewayProcess(tmp_path / "api", env=dep.shared_env(), args=("--workers", "2"))
    try:
        api.start()
        assert api.proc is not None
        servers = [c for c in _children(api.proc.pid)
                   if "python" in Path(f"/proc/{c}/cmdline").read_text()]
        assert len(servers) >= 2, servers
        client = openai.OpenAI(api_key=dep.create_key(), base_url=api.base_url, max_retries=0)
        ids = [client.videos.create(model="sora-2", prompt=f"two procs {i}", seconds="4",
                                    size="1280x720").id for i in range(6)]
        for vid in ids:
            done = wait_done(client, vid, timeout=60)
            assert done.status == "completed", done
        assert dep.terminal_entries() == dict.fromkeys(ids, 1)
        assert api.log_path is not None
        logged = api.log_path.read_text()
        assert logged.count("reelgate.scheduler.worker: worker") >= 2  # each runs a worker
    finally:
        api.stop()

"""A gateway split in two processes: API only, plus one `reelgate worker`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.support.server import REELGATE, GatewayProcess, free_port

BLOCKED_WORD = "forbidden-split-word"
METRICS_TOKEN = "split-metrics-token"


@pytest.fixture(scope="package")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """An API-only gateway plus one worker process on the same SQLite data dir."""
    api = GatewayProcess(tmp_path_factory.mktemp("split"), args=("--no-worker",),
                         env={"REELGATE_LOG_JSON": "1",
                              "REELGATE_MODERATION_WORDS": BLOCKED_WORD,
                              "REELGATE_METRICS_TOKEN": METRICS_TOKEN,
                              # the worker's own /metrics (the API ignores it)
                              "REELGATE_WORKER_METRICS_PORT": str(free_port())})
    api.start()
    log_path = api.data_dir / "worker.log"
    with log_path.open("ab") as log:
        worker = subprocess.Popen([*REELGATE, "worker"], env=api.full_env(), stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield api
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        api.stop()

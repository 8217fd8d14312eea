"""Several processes started at the same moment on one empty database all come up.

Start-up creates the embedded local channel and the first API key; N processes doing
that at once must not trip over each other's unique names (on PostgreSQL they are
serialised by an advisory lock, as the migrations are).
"""

from __future__ import annotations

from pathlib import Path

from tests.scale.support import Deployment


def test_three_api_processes_started_together_on_an_empty_database(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    try:
        dep.add_apis(3, {"REELGATE_LOCAL_CHANNEL": "auto"})  # raises if one fails to start
        assert dep.query("SELECT count(*) FROM channels WHERE name = 'local'") == [(1,)]
        assert dep.query("SELECT count(*) FROM api_keys") == [(1,)]
        assert dep.query("SELECT count(*) FROM tenants WHERE name = 'default'") == [(1,)]
    finally:
        dep.stop()

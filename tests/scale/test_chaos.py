"""bench/chaos.py in reduced form: 2 API + 3 worker processes on PostgreSQL, killed
with -9 while jobs flow through a faulty upstream; nothing may be lost or doubled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import TEST_DATABASE

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
@pytest.mark.skipif(TEST_DATABASE != "postgres",
                    reason="many processes on one database: run with PostgreSQL "
                           "(scripts/test.sh does, in its second pass)")
def test_chaos_loses_and_doubles_nothing(tmp_path: Path) -> None:
    report_path = tmp_path / "chaos.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELGATE_")}
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), "--jobs", "30", "--clients", "6",
         "--kill-every", "1.5", "--chaos-seconds", "4", "--render-seconds", "2",
         "--settle-timeout", "120", "--database-url", os.environ["REELGATE_TEST_POSTGRES_URL"],
         "--json", str(report_path)],
        env=env, capture_output=True, text=True, timeout=280, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    report = json.loads(report_path.read_text())
    assert all(report["checks"].values()), report["checks"]
    assert report["jobs"] == report["client_ids"] == 30
    assert sum(report["kills"].values()) >= 3  # it really was killing
    assert report["states"].get("completed", 0) >= 15
    assert set(report["states"]) <= {"completed", "failed"}

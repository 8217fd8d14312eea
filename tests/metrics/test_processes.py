"""`serve --workers 2`: whichever process answers a scrape reports the requests and
the CPU and memory of both, and a process that dies takes its memory out, not its
counts."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.metrics.conftest import scrape_until
from tests.metrics.scrape import Samples, scrape, value
from tests.support.server import TEST_DATABASE, GatewayProcess

#: a route nothing else calls (the fixture polls /healthz until the server is up)
READYZ = {"route": "/readyz", "method": "GET", "status": "200"}
SENT = 40


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_text()
        except OSError:
            continue
        if int(fields[1]) == pid and "spawn_main" in cmdline:  # not the resource tracker
            found.add(int(stat.parent.name))
    return found


def _readyz(got: Samples) -> float:
    return value(got, "reelgate_http_requests_total", **READYZ)


@pytest.mark.skipif(TEST_DATABASE == "postgres", reason="database-agnostic; once is enough")
def test_every_process_scrape_adds_up_all_processes(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path / "gw", args=("--workers", "2"))
    try:
        gw.start()
        assert gw.proc is not None
        deadline = time.monotonic() + 120
        while len(servers := _children(gw.proc.pid)) < 2:
            assert time.monotonic() < deadline, "two API processes never started"
            time.sleep(0.2)
        with ThreadPoolExecutor(8) as pool:  # fresh connections, spread over both
            codes = list(pool.map(lambda _: httpx.get(f"{gw.root_url}/readyz").status_code,
                                  range(SENT)))
        assert codes == [200] * SENT
        want = SENT
        got = scrape_until(gw.root_url, lambda s: _readyz(s) >= want)
        assert _readyz(got) == want
        assert value(got, "reelgate_api_processes") == 2
        assert value(got, "process_cpu_seconds_total") > 0
        assert value(got, "process_resident_memory_bytes") > 20 << 20
        for _ in range(6):  # any process answers with every process's counts
            assert _readyz(scrape(gw.root_url)) >= want

        victim = min(servers)
        os.kill(victim, signal.SIGKILL)
        while not (_children(gw.proc.pid) - servers) or victim in _children(gw.proc.pid):
            assert time.monotonic() < deadline + 120, "the dead process was not replaced"
            time.sleep(0.2)
        after = scrape_until(gw.root_url, lambda s: value(s, "reelgate_api_processes") == 2
                             and _readyz(s) >= want, timeout=120)
        assert _readyz(after) >= want  # the dead process's requests still count
        cpu = value(after, "process_cpu_seconds_total")
        assert cpu >= value(got, "process_cpu_seconds_total")  # never goes back: rate() holds
    finally:
        gw.stop()

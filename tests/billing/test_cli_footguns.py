"""The CLI's footguns, each run as an operator would: `reelgate` subprocesses on a real
database, from different directories. Each one now errors clearly (one line, exit 1,
no traceback) or does the right thing."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.server import REELGATE, TEST_DATABASE, database_env, free_port

Run = Callable[..., subprocess.CompletedProcess[str]]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELGATE_")}
    env.update(XDG_DATA_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"),
               REELGATE_LOCAL_CHANNEL="off", **extra)
    return env


def _runner(env: dict[str, str], default_cwd: Path) -> Run:
    def run(*args: str, code: int = 0, cwd: Path | None = None,
            ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*REELGATE, *args], env=env, cwd=cwd or default_cwd,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout, (args, done.stderr)
        return done
    return run


def _error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line that says what went wrong."""
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture()
def run(tmp_path: Path) -> Run:
    (tmp_path / "work").mkdir()
    return _runner(_env(tmp_path, **database_env()), tmp_path / "work")


@pytest.mark.skipif(TEST_DATABASE == "postgres", reason="about the default SQLite file")
def test_the_server_and_the_cli_find_one_database_from_any_directory(tmp_path: Path) -> None:
    here, there = tmp_path / "started-here", tmp_path / "run-from-there"
    here.mkdir()
    there.mkdir()
    env = _env(tmp_path)
    env.pop("REELGATE_LOCAL_CHANNEL")
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([*REELGATE, "serve", "--port", str(port)], env=env, cwd=here,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        made = _runner(env, there)("keys", "create", "--name", "from-elsewhere")
        secret = made.stdout.strip().splitlines()[-1]
        database = tmp_path / "xdg" / "reelgate" / "reelgate.db"
        assert f"database: sqlite+aiosqlite:///{database}" in made.stderr
        assert "no database" not in made.stderr  # it found the server's
        answer = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=30,
                           headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 200  # the running server knows the key
        assert not (there / "data").exists() and not (here / "data").exists()
    finally:
        server.terminate()
        server.wait(60)
        log.close()
    served = (tmp_path / "serve.log").read_text()
    assert f"Data directory: {database.parent}" in served


def test_a_cli_pointed_at_a_new_database_says_so(run: Run, tmp_path: Path) -> None:
    if TEST_DATABASE == "postgres":
        pytest.skip("about a SQLite file that does not exist yet")
    listed = run("tenants", "list")
    assert "no database at" in listed.stderr and "creating a new one" in listed.stderr
    assert "no database at" not in run("tenants", "list").stderr  # now it exists


def test_an_unknown_tenant_is_an_error_unless_asked_for(run: Run) -> None:
    run("tenants", "create", "bigco")
    typo = run("keys", "create", "--name", "k", "--tenant", "bigc0", code=1)
    line = _error_line(typo)
    assert "No tenant 'bigc0'" in line and "--create-tenant" in line
    assert not typo.stdout.strip()  # no key printed
    assert "database: " in typo.stderr  # and which database was looked in
    assert "bigc0" not in run("tenants", "list").stdout  # nothing was created
    made = run("keys", "create", "--name", "k", "--tenant", "bigc0", "--create-tenant")
    assert made.stdout.strip().splitlines()[-1].startswith("sk-rg-")
    assert "database: " in made.stderr
    assert "postpaid" in run("tenants", "show", "bigc0").stdout


def test_key_names_are_unique_and_revoke_says_which(run: Run) -> None:
    first = run("keys", "create", "--name", "prod", "--tenant", "acme", "--create-tenant")
    assert "database: " in first.stderr
    again = run("keys", "create", "--name", "prod", "--tenant", "acme", code=1)
    assert "already has an active key named 'prod'" in _error_line(again)
    run("keys", "create", "--name", "prod", "--tenant", "beta", "--create-tenant")
    ids = re.findall(r"key_\w+", run("keys", "list").stdout)
    assert len(ids) == 2
    ambiguous = _error_line(run("keys", "revoke", "prod", code=1))
    assert all(i in ambiguous for i in ids) and "--tenant" in ambiguous
    done = run("keys", "revoke", "prod", "--tenant", "acme")
    assert "tenant acme" in done.stdout and "database: " in done.stderr
    assert "tenant beta" in run("keys", "revoke", "prod").stdout  # only one is left
    assert "No active key" in _error_line(run("keys", "revoke", "prod", code=1))
    run("keys", "create", "--name", "prod", "--tenant", "acme")  # a revoked key frees it


def test_a_refused_request_is_one_line_not_a_traceback(run: Run) -> None:
    for args in (("tenants", "topup", "nobody", "1"), ("channels", "disable", "nothing"),
                 ("webhooks", "add", "https://example.com/hook", "--tenant", "nobody")):
        assert _error_line(run(*args, code=1))


def test_demo_checks_out_before_creating_anything_and_a_down_gateway_is_one_line(
        run: Run, tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    common = ("--api-key", "sk-rg-anything", "--base-url", closed)
    missing = run("demo", "a fox", "--out", str(tmp_path / "no" / "such" / "dir" / "f.mp4"),
                  *common, code=2)
    # the path was refused before any request: had it not, the gateway would be missing
    assert "does not exist" in _error_line(missing) and "Cannot reach" not in missing.stderr
    assert "is a directory" in _error_line(
        run("demo", "a fox", "--out", str(tmp_path), *common, code=2))
    out = tmp_path / "fox.mp4"
    down = run("demo", "a fox", "--out", str(out), *common, code=1)
    assert f"Cannot reach the gateway at {closed}" in _error_line(down)
    assert not out.exists() and not list(tmp_path.glob(".fox.mp4.*"))

"""`reelgate backup` / `restore`: a live embedded gateway's data restored into an empty
directory serves the same keys, videos and channel credentials."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.helpers import wait_done
from tests.support.server import REELGATE, TEST_DATABASE, GatewayProcess

ADMIN = "rg-admin-backup-tests"


def _run(gw: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REELGATE, *args], env=gw.full_env(), capture_output=True,
                          text=True, timeout=120)


@pytest.mark.skipif(TEST_DATABASE != "sqlite", reason="backup is for the embedded deployment")
def test_backup_of_a_live_gateway_restores_into_an_empty_dir(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path / "gw", env={"REELGATE_ADMIN_TOKEN": ADMIN})
    gw.start()
    key = gw.create_key("backup")
    client = openai.OpenAI(api_key=key, base_url=gw.base_url, max_retries=0)
    try:
        video = client.videos.create(model="sora-2", prompt="backed up", seconds="4",
                                     size="1280x720")
        assert wait_done(client, video.id).status == "completed"
        original = client.videos.download_content(video.id).read()
        # a channel credential, encrypted with the data dir's secret.key
        gw.cli("channels", "add", "relay-b", "--provider", "openai",
               "--base-url", "http://127.0.0.1:9/v1", "--model", "sora-2=sora-2",
               "--key", "sk-secret-relay-credential")
        archive = tmp_path / "out" / "reelgate.tar.gz"
        done = _run(gw, "backup", str(archive))  # while the server keeps running
        assert done.returncode == 0, done.stderr
        assert "database:" in done.stdout and str(archive) in done.stdout
        again = _run(gw, "backup", str(archive))
        assert again.returncode == 2 and "--force" in again.stderr
    finally:
        gw.stop()

    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "reelgate.db", "secret.key"} <= names  # admin token: from env
    assert any(n.startswith(f"media/{video.id}") or f"/{video.id}/" in n or video.id in n
               for n in names if n.startswith("media/"))

    target = tmp_path / "restored"
    restored = GatewayProcess(target, env={"REELGATE_ADMIN_TOKEN": ADMIN})
    done = _run(restored, "restore", str(archive), "--data-dir", str(target))
    assert done.returncode == 0, done.stderr
    refused = _run(restored, "restore", str(archive), "--data-dir", str(target))
    assert refused.returncode == 2 and "not empty" in refused.stderr

    restored.start()
    try:
        client = openai.OpenAI(api_key=key, base_url=restored.base_url, max_retries=0)
        assert client.videos.retrieve(video.id).status == "completed"
        assert client.videos.download_content(video.id).read() == original
        # the restored secret key still decrypts the channel credential
        listed = httpx.get(f"{restored.root_url}/admin/api/channels",
                           headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert listed.status_code == 200, listed.text
        relay = next(c for c in listed.json()["data"] if c["name"] == "relay-b")
        assert any("sk-s" in str(k) and "tial" in str(k) for k in relay["keys"]), relay
    finally:
        restored.stop()


def test_backup_refuses_what_it_cannot_cover(tmp_path: Path) -> None:
    """PostgreSQL: a clear pointer to pg_dump instead of an archive without the data."""
    gw = GatewayProcess(tmp_path / "gw", env={
        "REELGATE_DATABASE_URL": "postgresql+asyncpg://u@127.0.0.1:9/x"})
    done = _run(gw, "backup", str(tmp_path / "x.tar"))
    assert done.returncode == 2 and "pg_dump" in done.stderr
    assert not (tmp_path / "x.tar").exists()


def test_restore_refuses_an_archive_escaping_its_directory(tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar"
    payload = tmp_path / "payload"
    payload.write_text("x")
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"format": "reelgate-backup/1"}')
    with tarfile.open(evil, "w") as tar:
        tar.add(manifest, arcname="manifest.json")
        tar.add(payload, arcname="media/../../escaped")
    gw = GatewayProcess(tmp_path / "gw")
    done = _run(gw, "restore", str(evil), "--data-dir", str(tmp_path / "target"))
    assert done.returncode == 2 and "refusing" in done.stderr
    assert not (tmp_path / "escaped").exists()
    assert not (tmp_path / "target").exists() or not any((tmp_path / "target").iterdir())

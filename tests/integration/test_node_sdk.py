"""The official openai Node SDK (pinned in tests/node/package-lock.json) against a live
gateway: ``videos.edit``, ``extend`` and ``createCharacter`` with uploaded clips, ``edit``
by id, ``getCharacter``, and a refusal read back as the SDK's error.

``npm ci`` installs the pinned SDK into ``tests/node/node_modules`` (git-ignored) when
it is not there yet, so a clean clone needs only node and npm (and the npm registry,
once). Skipped, saying so, only where npm is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes.media import render_mp4
from tests.integration.helpers import decode_info, wait_done
from tests.support.server import GatewayProcess

NODE_DIR = Path(__file__).resolve().parent.parent / "node"


def _pinned() -> str:
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    return str(lock["packages"]["node_modules/openai"]["version"])


def _installed() -> str | None:
    manifest = NODE_DIR / "node_modules" / "openai" / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else None


@pytest.fixture(scope="module")
def node_sdk() -> str:
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("npm/node are not installed: the Node SDK tests need them "
                    "(apt-get install nodejs npm)")
    if _installed() != _pinned():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                       capture_output=True, timeout=600)
    assert _installed() == _pinned()
    return node


def test_node_sdk_edit_extend_and_characters(node_sdk: str, gateway: GatewayProcess,
                                             api_key: str, client: openai.OpenAI,
                                             tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(render_mp4(1280, 720, 4.0))
    source = client.videos.create_and_poll(prompt="node: a source", size="1280x720",
                                           seconds="4", poll_interval_ms=200)
    assert source.status == "completed"
    run = subprocess.run([node_sdk, "videos.mjs"], cwd=NODE_DIR, capture_output=True,
                         text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "BASE_URL": gateway.base_url,
                              "API_KEY": api_key, "CLIP": str(clip), "SOURCE": source.id})
    assert run.returncode == 0, run.stderr
    out: dict[str, Any] = json.loads(run.stdout)
    assert (out["edited"]["seconds"], out["extended"]["seconds"]) == ("4", "8")
    assert out["byId"]["size"] == "1280x720" and out["byId"]["seconds"] == "4"
    assert out["character"]["id"].startswith("char_")
    assert out["fetched"] == out["character"]
    assert out["refused"] == {"status": 400, "code": "invalid_value", "param": "seconds"}
    for key in ("edited", "extended", "byId"):
        done = wait_done(client, out[key]["id"])
        assert done.status == "completed", (key, done.error)
    assert decode_info(client.videos.download_content(out["extended"]["id"]).read())[3] == 192

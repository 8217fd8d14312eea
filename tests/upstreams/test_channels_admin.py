"""Managing channels: ``reelgate channels`` and ``/admin/api/channels`` against the fakes.

Live checks must say what is wrong (bad key, unreachable, wrong base URL) and exit
non-zero; keys only ever come back masked; bad input gets OpenAI's error envelope.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from typer.testing import CliRunner

from reelgate.cli import app as reelgate_cli
from tests.support.server import REELGATE, GatewayProcess
from tests.upstreams.support import (
    ADMIN_TOKEN,
    Admin,
    Upstream,
    create_key,
    gateway_env,
    unique,
)
from tests.upstreams.test_routing import _closed_port

PROVIDERS = ("openai", "azure", "relay", "veo", "seedance", "kling", "vidu", "runway",
             "luma", "minimax", "minimax_h3", "dashscope", "dashscope_200")
#: a key each upstream must refuse; Kling's is a real access key with the wrong secret
BAD_KEYS = {"kling": "kling-ak-1:not-the-secret"}


@dataclass
class Ran:
    returncode: int
    stdout: str


def cli(gw: GatewayProcess, *args: str, stdin: str = "") -> Ran:
    """``reelgate channels ...`` on the gateway's database, run in this process (the
    interpreter start-up and imports would cost seconds per call on a busy machine)."""
    result = CliRunner().invoke(reelgate_cli, ["channels", *args], input=stdin,
                                env={**gateway_env(gw), "COLUMNS": "200"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout)


def cli_process(gw: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command in its own process, as an operator runs it."""
    return subprocess.run([*REELGATE, "channels", *args], env={**gw.full_env(), "COLUMNS": "200"},
                          text=True, capture_output=True, timeout=60)


def test_cli_add_test_list_and_disable(upstream_gateway: GatewayProcess,
                                       upstreams: dict[str, Upstream], admin: Admin) -> None:
    up = upstreams["openai"]
    name = unique("cli-openai").replace(" #", "-")
    stale = "sk-stale-key-000000"
    added = cli(upstream_gateway, "add", name, "--provider", "openai", "--base-url",
                up.base_url, "--key-stdin", "--model", "sora-2", stdin=f"{up.keys[0]}\n{stale}\n")
    assert added.returncode == 0, added.stdout

    human = cli_process(upstream_gateway, "test", name)
    assert human.returncode == 1, human.stdout + human.stderr
    lines = human.stdout.splitlines()
    assert any(line.startswith("key1 ") and ": ok" in line for line in lines), lines
    assert any(line.startswith("key2 ") and "FAILED bad_key" in line for line in lines), lines
    verdicts = json.loads(cli(upstream_gateway, "test", name, "--json").stdout)
    assert [(v["label"], v["problem"]) for v in verdicts] == [("key1", None), ("key2", "bad_key")]

    listed = cli(upstream_gateway, "list", "--json")
    assert up.keys[0] not in listed.stdout and stale not in listed.stdout
    [mine] = [c for c in json.loads(listed.stdout) if c["name"] == name]
    assert [k["key"] for k in mine["keys"]] == ["****", "sk-s…0000"]  # short keys: all hidden
    assert mine["models"] == {"sora-2": "sora-2"} and mine["enabled"] is True

    assert cli(upstream_gateway, "disable", name).returncode == 0
    assert admin.channel(name)["enabled"] is False


def test_check_says_unreachable_and_wrong_base_url(upstream_gateway: GatewayProcess,
                                                  upstreams: dict[str, Upstream],
                                                  admin: Admin) -> None:
    up = upstreams["openai"]
    down = admin.add_channel(up, base_url=f"http://127.0.0.1:{_closed_port()}/v1")
    result = cli(upstream_gateway, "test", down["name"], "--json")
    assert result.returncode == 1, result.stdout
    assert [r["problem"] for r in json.loads(result.stdout)] == ["unreachable"]
    wrong = admin.add_channel(up, base_url=up.server.url)  # the /v1 is missing
    assert [r["problem"] for r in admin.test(wrong["id"])["results"]] == ["wrong_base_url"]


@pytest.mark.parametrize("kind", PROVIDERS)
def test_admin_check_tells_good_keys_from_bad(kind: str, upstreams: dict[str, Upstream],
                                              admin: Admin) -> None:
    up = upstreams[kind]
    channel = admin.add_channel(up, keys=(up.keys[0], BAD_KEYS.get(kind, "not-a-valid-key-123")))
    report = admin.test(channel["id"])
    assert report["ok"] is False
    assert [(r["label"], r["ok"], r["problem"]) for r in report["results"]] == [
        ("key1", True, None), ("key2", False, "bad_key")]
    assert up.creates() == []  # checking creates nothing upstream


@pytest.mark.parametrize("kind", ("kling", "vidu", "runway", "luma", "minimax", "minimax_h3",
                                  "dashscope"))
def test_check_names_a_wrong_base_url_and_an_unreachable_host(
    kind: str, upstreams: dict[str, Upstream], admin: Admin
) -> None:
    """For each upstream of issue #13: a base URL whose host answers, but not with this
    API, is ``wrong_base_url``; a host that does not answer is ``unreachable``."""
    up = upstreams[kind]
    wrong = admin.add_channel(up, base_url=up.base_url + "/not-the-api")
    down = admin.add_channel(up, base_url=f"http://127.0.0.1:{_closed_port()}")
    for channel, problem in ((wrong, "wrong_base_url"), (down, "unreachable")):
        report = admin.test(channel["id"])
        assert report["ok"] is False
        assert [r["problem"] for r in report["results"]] == [problem], report
    assert up.creates() == []


def test_admin_check_catches_a_wrong_api_version_and_a_relay_url(
    upstreams: dict[str, Upstream], admin: Admin
) -> None:
    azure = admin.add_channel(upstreams["azure"], options={"api_version": "2020-01-01"})
    [result] = admin.test(azure["id"])["results"]
    assert result["problem"] == "rejected" and "api-version" in result["message"]
    relay = upstreams["relay"]
    moved = admin.add_channel(relay, base_url=relay.server.url + "/api")
    assert [r["problem"] for r in admin.test(moved["id"])["results"]] == ["wrong_base_url"]


def test_admin_api_validates_and_never_shows_keys(upstream_gateway: GatewayProcess,
                                                  upstreams: dict[str, Upstream],
                                                  admin: Admin) -> None:
    up = upstreams["seedance"]
    url = f"{upstream_gateway.root_url}/admin/api/channels"
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "invalid_admin_token"

    def refused(status: int, param: str | None, **body: object) -> None:
        response = admin.http.post("/channels", json=body)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["param"] == param, error

    base = {"name": unique("v").replace(" #", "-"), "provider": "seedance",
            "base_url": up.base_url, "keys": [up.keys[0]]}
    refused(400, "provider", **{**base, "provider": "sora-cloud"})
    refused(400, "base_url", **{**base, "base_url": "file:///etc/passwd"})
    refused(400, "models", **{**base, "models": {"gpt-video-9": "x"}})
    refused(400, "key", **{**base, "keys": []})
    refused(400, "options.mode", **{**base, "options": {"mode": "azure"}})
    refused(400, "colour", **{**base, "colour": "blue"})
    created = admin.http.post("/channels", json=base)
    assert created.status_code == 201
    refused(409, "name", **base)
    assert up.keys[0] not in created.text and up.keys[0] not in admin.http.get("/channels").text
    missing = admin.http.get("/channels/no-such-channel")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "channel_not_found"
    patched = admin.http.patch(f"/channels/{base['name']}", json={"weight": 0})
    assert patched.status_code == 400 and patched.json()["error"]["param"] == "weight"


def test_first_real_channel_retires_the_local_renderer(tmp_path: Path,
                                                       upstreams: dict[str, Upstream]) -> None:
    """A paying job must never fall back to the demo renderer unnoticed."""
    gw = GatewayProcess(tmp_path / "auto", env={"REELGATE_ADMIN_TOKEN": ADMIN_TOKEN})
    gw.start()
    try:
        api = Admin(gw.root_url)
        [local] = api.channels()
        assert (local["name"], local["enabled"]) == ("local", True)
        api.add_channel(upstreams["veo"])
        assert api.channel("local")["enabled"] is False
        sdk = openai.OpenAI(api_key=create_key(gw, "auto"), base_url=gw.base_url,
                            max_retries=0)
        with pytest.raises(openai.BadRequestError) as caught:  # refused at once
            sdk.videos.create(model="sora-2", prompt="no real channel serves sora-2")
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["code"] == "model_unavailable"

        api.http.post("/channels/local/enable")  # kept on purpose from now on
        api.add_channel(upstreams["seedance"])
        assert api.channel("local")["enabled"] is True
        api.close()
    finally:
        gw.stop()

"""Helpers for the upstream tests: the fakes on loopback, the admin API, waiting."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from openai.types import Video
from typer.testing import CliRunner

from reelgate.cli import app as reelgate_cli
from tests.fakes import (
    DashScopeFake,
    FakeServer,
    FakeUpstream,
    KlingFake,
    LumaFake,
    MiniMaxFake,
    OpenAIFake,
    RecordedRequest,
    RunwayFake,
    SeedanceFake,
    VeoFake,
    ViduFake,
)
from tests.fakes.comfyui_fake import ComfyUIFake
from tests.fakes.core import FakeJob
from tests.fakes.omni_fake import OmniFake
from tests.support.server import GatewayProcess

ADMIN_TOKEN = "rg-admin-upstream-tests"
AZURE_API_VERSION = "2025-04-01-preview"

#: fakes whose files live on a "CDN" (their own loopback port under another host name):
#: reaching it is reaching a private address, which a channel must opt in to
PRIVATE_CDN = {"allow_private_network": True}

#: fake kind -> (keys the fake accepts, the reelgate provider, options for the channel)
KINDS: dict[str, tuple[tuple[str, ...], str, dict[str, Any]]] = {
    "openai": (("sk-oa-1", "sk-oa-2"), "openai", {}),
    "openai_b": (("sk-ob-1",), "openai", {}),
    "azure": (("az-key-1", "az-key-2"), "openai",
              {"mode": "azure", "api_version": AZURE_API_VERSION}),
    "relay": (("relay-key-1", "relay-key-2"), "openai", {"mode": "relay", **PRIVATE_CDN}),
    "veo": (("goog-key-1",), "veo", PRIVATE_CDN),
    "seedance": (("ark-key-1",), "seedance", PRIVATE_CDN),
    "kling": (("kling-ak-1:kling-sk-1", "kling-ak-2:kling-sk-2"), "kling", PRIVATE_CDN),
    "vidu": (("vidu-key-1", "vidu-key-2"), "vidu", PRIVATE_CDN),
    "comfyui": (("none",), "comfyui", {}),  # workflows: tests/upstreams/comfy_support.py
    "runway": (("rw-key-1", "rw-key-2"), "runway", PRIVATE_CDN),
    "omni": (("omni-key-1",), "openai", {"mode": "omni", "fps": 16, "num_inference_steps": 8}),
    "luma": (("luma-key-1", "luma-key-2"), "luma", PRIVATE_CDN),
    "minimax": (("mm-key-1", "mm-key-2"), "minimax", PRIVATE_CDN),  # Hailuo, V1 API
    "minimax_h3": (("mm-h3-key-1", "mm-h3-key-2"), "minimax", PRIVATE_CDN),  # H3, V2 API
    "dashscope": (("ds-key-1", "ds-key-2"), "dashscope", PRIVATE_CDN),  # errors: real statuses
    "dashscope_200": (("ds200-key-1", "ds200-key-2"), "dashscope", PRIVATE_CDN),  # ... as 200
}

#: provider under test -> (public model, size, seconds) that each fake renders quickly
SHAPES: dict[str, tuple[str, str, str]] = {
    "openai": ("sora-2", "1280x720", "4"),
    "azure": ("sora-2", "720x1280", "4"),
    "relay": ("sora-2", "1280x720", "4"),
    "veo": ("veo-3.1", "1280x720", "4"),
    "seedance": ("seedance-1.0-pro", "1280x720", "5"),
    "kling": ("kling-v2.5-turbo", "1280x720", "5"),
    "vidu": ("viduq3-turbo", "1280x720", "4"),
    "comfyui": ("wan-2.2-local", "832x480", "4"),
    "runway": ("gen4.5", "1280x720", "4"),
    "omni": ("wan-2.2-local", "832x480", "4"),
    "luma": ("ray-2", "1280x720", "5"),
    "minimax": ("minimax-hailuo-02", "1366x768", "6"),
    "minimax_h3": ("minimax-h3", "1366x768", "5"),
    "dashscope": ("wan-2.5", "1280x720", "5"),
    "dashscope_200": ("wan-2.6", "1280x720", "5"),
}
MODEL_MAPS: dict[str, dict[str, str]] = {
    "openai": {"sora-2": "sora-2", "sora-2-pro": "sora-2-pro"},
    "azure": {"sora-2": "my-sora-deployment", "sora-2-pro": "my-sora-pro-deployment"},
    "relay": {"sora-2": "sora-2", "sora-2-pro": "sora-2-pro"},
    "veo": {"veo-3.1": "veo-3.1-generate-preview"},
    "seedance": {"seedance-1.0-pro": "seedance-1-0-pro-250528"},
    "kling": {"kling-v2.5-turbo": "kling-v2-5-turbo", "kling-v2.6": "kling-v2-6",
              "kling-v3": "kling-v3"},
    "vidu": {"viduq3-pro": "viduq3-pro", "viduq3-turbo": "viduq3-turbo"},
    "comfyui": {"wan-2.2-local": "wan-2.2-local"},
    "runway": {"gen4.5": "gen4.5", "gen4_turbo": "gen4_turbo"},
    "omni": {"wan-2.2-local": "Wan-AI/Wan2.2-TI2V-5B-Diffusers"},
    "luma": {"ray-2": "ray-2", "ray-flash-2": "ray-flash-2"},
    "minimax": {"minimax-hailuo-02": "MiniMax-Hailuo-02"},
    "minimax_h3": {"minimax-h3": "MiniMax-H3"},
    "dashscope": {"wan-2.7": "wan2.7-t2v", "wan-2.6": "wan2.6-t2v",
                  "wan-2.5": "wan2.5-t2v-preview",
                  "wan-2.2-plus": "wan2.2-t2v-plus", "wan-2.2-flash": "wan2.2-i2v-flash"},
    "dashscope_200": {"wan-2.6": "wan2.6-t2v"},
}
COMPLETE_AFTER = 0.3


def make_fake(kind: str) -> FakeUpstream:
    keys = KINDS[kind][0]
    if kind in ("openai", "openai_b"):
        return OpenAIFake("openai", keys=keys, complete_after=COMPLETE_AFTER)
    if kind == "azure":
        return OpenAIFake("azure", keys=keys, complete_after=COMPLETE_AFTER,
                          api_version=AZURE_API_VERSION)
    if kind == "relay":
        return OpenAIFake("relay", keys=keys, complete_after=COMPLETE_AFTER)
    if kind == "veo":
        return VeoFake(keys=keys, complete_after=COMPLETE_AFTER)
    if kind == "kling":
        return KlingFake(keys=keys, complete_after=COMPLETE_AFTER)
    if kind == "vidu":
        return ViduFake(keys=keys, complete_after=COMPLETE_AFTER)
    if kind == "comfyui":
        return ComfyUIFake(keys=keys, render_seconds=COMPLETE_AFTER)
    if kind == "runway":
        return RunwayFake(keys=keys, complete_after=COMPLETE_AFTER)
    if kind == "omni":
        return OmniFake(keys=keys, complete_after=COMPLETE_AFTER)
    if kind == "luma":
        return LumaFake(keys=keys, complete_after=COMPLETE_AFTER)
    if kind in ("minimax", "minimax_h3"):  # V1 says "no balance" with HTTP 200, V2 with 402
        return MiniMaxFake(keys=keys, complete_after=COMPLETE_AFTER,
                           broke_status=200 if kind == "minimax" else 402)
    if kind in ("dashscope", "dashscope_200"):  # errors as DashScope's statuses, or all as 200
        return DashScopeFake(keys=keys, complete_after=COMPLETE_AFTER,
                             errors_as_200=kind == "dashscope_200")
    return SeedanceFake(keys=keys, complete_after=COMPLETE_AFTER)


@dataclass
class Upstream:
    """One fake upstream running on loopback for the whole test package."""

    kind: str
    fake: FakeUpstream
    server: FakeServer
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.fake.base_url(self.server.url)

    @property
    def keys(self) -> tuple[str, ...]:
        return KINDS[self.kind][0]

    def restore(self) -> None:
        """Forget jobs, faults and logs; put every setting back the way it started."""
        self.fake.reset()
        self.fake.keys = set(self.keys)
        for name, value in self.defaults.items():
            setattr(self.fake, name, value)

    def job(self, prompt: str) -> FakeJob:
        """The upstream's record of the job created with ``prompt`` (prompts are unique)."""
        found = [j for j in self.fake.jobs.values() if j.prompt == prompt]
        assert len(found) == 1, (prompt, [j.prompt for j in self.fake.jobs.values()])
        return found[0]

    def calls(self, method: str | None = None, *, touching: str | None = None,
              path_suffix: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, by method and/or naming an upstream job id in the path or
        query (MiniMax V1 names tasks in the query string)."""
        out = []
        for r in self.fake.requests:
            if r.path.startswith("/_"):
                continue
            if method and r.method != method:
                continue
            if touching and touching.rsplit("/", 1)[-1] not in r.path + "?" + r.query:
                continue
            if path_suffix and not r.path.endswith(path_suffix):
                continue
            out.append(r)
        return out

    def creates(self) -> list[RecordedRequest]:
        return [r for r in self.calls("POST")
                if "remix" not in r.path and not r.path.endswith("/cancel")]

    def cancels(self, upstream_id: str) -> list[RecordedRequest]:
        """Calls that cancel or delete the job: a DELETE, or a POST to ``.../cancel``."""
        return [r for r in self.calls(touching=upstream_id)
                if r.method == "DELETE" or (r.method == "POST" and r.path.endswith("/cancel"))]


def start_upstream(kind: str) -> Upstream:
    fake = make_fake(kind)
    server = FakeServer(fake).start()
    defaults = {name: getattr(fake, name) for name in
                ("complete_after", "content_ttl", "moderation_words")}
    for name in ("content_endpoint", "snap_durations", "unknown_poll", "render_seconds",
                 "stale_links", "task_ttl"):
        if hasattr(fake, name):
            defaults[name] = getattr(fake, name)
    return Upstream(kind, fake, server, defaults)


class Admin:
    """The admin HTTP API of a live gateway."""

    def __init__(self, root_url: str, token: str = ADMIN_TOKEN) -> None:
        self.http = httpx.Client(base_url=f"{root_url}/admin/api",
                                 headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def _ok(self, response: httpx.Response) -> Any:
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json()

    def add_channel(self, up: Upstream, *, name: str | None = None,
                    keys: tuple[str, ...] | None = None, base_url: str | None = None,
                    models: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
        provider_kind = "openai" if up.kind == "openai_b" else up.kind
        options = {**KINDS[up.kind][2], **fields.pop("options", {})}
        body = {
            "name": name or f"{up.kind}-{secrets.token_hex(3)}", "provider": KINDS[up.kind][1],
            "base_url": base_url or up.base_url, "keys": list(keys or up.keys[:1]),
            "models": models or MODEL_MAPS[provider_kind], "options": options, **fields,
        }
        result: dict[str, Any] = self._ok(self.http.post("/channels", json=body))
        return result

    def channels(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._ok(self.http.get("/channels"))["data"]
        return data

    def channel(self, ref: str) -> dict[str, Any]:
        result: dict[str, Any] = self._ok(self.http.get(f"/channels/{ref}"))
        return result

    def patch(self, ref: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._ok(self.http.patch(f"/channels/{ref}", json=fields))
        return result

    def disable(self, ref: str) -> None:
        self._ok(self.http.post(f"/channels/{ref}/disable"))

    def disable_all(self) -> None:
        for ch in self.channels():
            if ch["enabled"]:
                self.disable(ch["id"])

    def test(self, ref: str) -> dict[str, Any]:
        result: dict[str, Any] = self._ok(self.http.post(f"/channels/{ref}/test"))
        return result

    def close(self) -> None:
        self.http.close()


def unique(text: str) -> str:
    """A prompt nobody else uses, so the fake's record of it can be found again."""
    return f"{text} #{secrets.token_hex(4)}"


def wait_for(client: openai.OpenAI, video_id: str, done: Callable[[Video], bool],
             timeout: float = 90.0) -> Video:
    deadline = time.monotonic() + timeout
    while True:
        video = client.videos.retrieve(video_id)
        if done(video):
            return video
        if time.monotonic() > deadline:
            raise AssertionError(f"{video_id} still {video.status} after {timeout}s")
        time.sleep(0.15)


def finished(client: openai.OpenAI, video_id: str, timeout: float = 30.0) -> Video:
    return wait_for(client, video_id, lambda v: v.status in ("completed", "failed"), timeout)


def _check(up: Upstream, calls: list[RecordedRequest], key: str) -> int:
    for r in calls:
        public = r.path.startswith(up.fake.public_prefixes) if up.fake.public_prefixes else False
        expected = None if public else key
        assert r.credential == expected, (up.kind, r.method, r.path, r.credential, expected)
    return len(calls)


def assert_keys(up: Upstream, upstream_id: str, key: str) -> int:
    """Every call naming the job used ``key``; calls to its CDN/storage host used none.

    Returns how many calls there were, so a test can insist there were some.
    """
    return _check(up, up.calls(touching=upstream_id), key)


def assert_all_keys(up: Upstream, key: str) -> int:
    """Like :func:`assert_keys` for every call the fake saw in this test."""
    return _check(up, up.calls(), key)


def gateway_env(gw: GatewayProcess) -> dict[str, str]:
    return {k: v for k, v in gw.full_env().items() if k.startswith("REELGATE_")}


def create_key(gw: GatewayProcess, name: str, tenant: str = "default") -> str:
    """``reelgate keys create`` in this process: interpreter start-up costs seconds."""
    result = CliRunner().invoke(reelgate_cli, ["keys", "create", "--name", name, "--tenant",
                                               tenant, "--create-tenant"], env=gateway_env(gw))
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]

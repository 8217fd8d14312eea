"""ComfyUI through a live gateway with the official SDK, and the operator's commands.

Text-to-video and image-to-video (the client's reference reaching the LoadImage node),
a workflow ComfyUI refuses (the job fails naming the node, never retried), a render
that fails on the GPU, a delete that interrupts the render, a submit whose answer is
lost (found by our prompt id, not sent again), ``channels test`` reporting the GPU and
queue, ``reelgate workflows add`` registering the shipped example, and the shipped
``wan-2.2-local.toml`` billing the model by the GPU time ComfyUI measured.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from fractions import Fraction

import httpx
import openai
import pytest

from reelgate.billing.money import round_micros
from reelgate.billing.prices import exact_seconds
from reelgate.providers.comfyui import wire
from reelgate.providers.comfyui.workflow import prompt_id_for
from tests.fakes.comfyui_fake import ComfyUIFake
from tests.integration.helpers import decode_info, png
from tests.support.comfyui import EXAMPLES, MODEL, workflows_option
from tests.support.server import GatewayProcess
from tests.upstreams.comfy_support import cli, comfy_channel
from tests.upstreams.support import Admin, Upstream, finished, unique, wait_for

SIZE = "832x480"


def _fake(up: Upstream) -> ComfyUIFake:
    assert isinstance(up.fake, ComfyUIFake)
    return up.fake


def _posts(up: Upstream, path: str) -> int:
    return len([r for r in up.calls("POST") if r.path == path])


def test_sdk_text_to_video(upstream_gateway: GatewayProcess, upstreams: dict[str, Upstream],
                           admin: Admin, sdk: openai.OpenAI) -> None:
    up = upstreams["comfyui"]
    comfy_channel(upstream_gateway, admin, up, max_concurrent=1)
    prompt = unique("comfyui: a red fox trotting through snow")
    video = sdk.videos.create(model=MODEL, prompt=prompt, size=SIZE, seconds="4")
    done = finished(sdk, video.id)
    assert done.status == "completed", done.error
    assert (done.model, done.size, done.seconds, done.progress) == (MODEL, SIZE, "4", 100)
    width, height, duration, frames = decode_info(sdk.videos.download_content(video.id).read())
    assert (f"{width}x{height}", frames) == (SIZE, 97)  # 4 s x 24 fps as Wan's 4n+1
    assert duration == pytest.approx(97 / 24, abs=0.1)
    thumb = sdk.videos.download_content(video.id, variant="thumbnail").read()
    assert thumb[8:12] == b"WEBP"  # ComfyUI has no thumbnail: ours, derived

    job = up.job(prompt)
    graph = job.extra["prompt"].graph
    assert graph["6"]["inputs"]["text"] == prompt and graph["55"]["inputs"]["length"] == 97
    assert job.extra["prompt"].extra_data["reelgate_job_id"] == video.id
    assert _fake(up).render_log.by_job()[video.id] == ["comfy"]  # rendered once
    assert _posts(up, "/prompt") == 1 and _posts(up, "/upload/image") == 0


def test_sdk_image_to_video_reference_reaches_the_node(
    upstream_gateway: GatewayProcess, upstreams: dict[str, Upstream], admin: Admin,
    sdk: openai.OpenAI,
) -> None:
    up = upstreams["comfyui"]
    comfy_channel(upstream_gateway, admin, up)
    reference = png(832, 480, (20, 90, 200))
    prompt = unique("comfyui: the blue field comes alive")
    video = sdk.videos.create(model=MODEL, prompt=prompt, size=SIZE, seconds="2",
                              input_reference=("ref.png", reference, "image/png"))
    done = finished(sdk, video.id)
    assert done.status == "completed", done.error
    run = up.job(prompt).extra["prompt"]
    assert run.graph["56"]["inputs"]["image"] == f"reelgate-{video.id}.png"
    assert hashlib.sha256(run.loaded_images["56"]).digest() == hashlib.sha256(reference).digest()
    assert _posts(up, "/upload/image") == 1
    assert decode_info(sdk.videos.download_content(video.id).read())[:2] == (832, 480)


def test_refused_workflow_fails_the_job_naming_the_node(
    upstream_gateway: GatewayProcess, upstreams: dict[str, Upstream], admin: Admin,
    sdk: openai.OpenAI,
) -> None:
    up = upstreams["comfyui"]
    broken = copy.deepcopy(workflows_option())
    broken[MODEL]["text"]["workflow"]["37"]["inputs"]["unet_name"] = "missing.safetensors"
    comfy_channel(upstream_gateway, admin, up, workflows=broken)
    done = finished(sdk, sdk.videos.create(model=MODEL, prompt=unique("refused"), size=SIZE,
                                           seconds="2").id)
    assert done.status == "failed" and done.error is not None
    assert done.error.code == "workflow_invalid"
    assert "node 37 (UNETLoader)" in done.error.message and "missing.safetensors" in (
        done.error.message)
    # a retry would have come before the failure (a refusal that may be retried puts
    # the job back in the queue); failed is final, so one POST now means one ever
    assert _posts(up, "/prompt") == 1


def test_gpu_failure_fails_the_job(upstream_gateway: GatewayProcess,
                                   upstreams: dict[str, Upstream], admin: Admin,
                                   sdk: openai.OpenAI) -> None:
    up = upstreams["comfyui"]
    comfy_channel(upstream_gateway, admin, up)
    done = finished(sdk, sdk.videos.create(model=MODEL, prompt=unique("please explode"),
                                           size=SIZE, seconds="2").id)
    assert done.status == "failed" and done.error is not None
    assert done.error.code == "generation_failed" and "KSampler" in done.error.message


def test_delete_interrupts_the_render(upstream_gateway: GatewayProcess,
                                      upstreams: dict[str, Upstream], admin: Admin,
                                      sdk: openai.OpenAI) -> None:
    up = upstreams["comfyui"]
    _fake(up).render_seconds = 30.0
    comfy_channel(upstream_gateway, admin, up)
    prompt = unique("comfyui: a very slow sunset")
    video = sdk.videos.create(model=MODEL, prompt=prompt, size=SIZE, seconds="2")
    wait_for(sdk, video.id, lambda v: v.status == "in_progress" and _fake(up).running is not None)
    assert sdk.videos.delete(video.id).deleted
    deadline = time.monotonic() + 60
    while _fake(up).running is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _fake(up).running is None and _posts(up, "/interrupt") == 1
    assert up.job(prompt).extra["prompt"].interrupted  # stopped on the GPU, not left to run


def test_lost_submit_answer_is_found_not_resent(upstream_gateway: GatewayProcess,
                                                upstreams: dict[str, Upstream], admin: Admin,
                                                sdk: openai.OpenAI) -> None:
    up = upstreams["comfyui"]
    comfy_channel(upstream_gateway, admin, up, options={"read_timeout": 0.5})
    _fake(up).slow_next(2.0, method="POST", path="^/prompt$")
    video = sdk.videos.create(model=MODEL, prompt=unique("slow answer"), size=SIZE, seconds="2")
    done = finished(sdk, video.id)
    assert done.status == "completed", done.error
    assert _posts(up, "/prompt") == 1
    assert _fake(up).render_log.by_job()[video.id] == ["comfy"]


def test_operator_commands(upstream_gateway: GatewayProcess, upstreams: dict[str, Upstream],
                           admin: Admin, sdk: openai.OpenAI) -> None:
    """`channels add` + `workflows add` with the shipped example, then `channels test`."""
    up = upstreams["comfyui"]
    name = unique("gpu").replace(" #", "-")
    code, out = cli(upstream_gateway, "channels", "add", name, "--provider", "comfyui",
                     "--base-url", up.base_url, "--key", "none", "--max-concurrent", "1")
    assert code == 0, out
    code, out = cli(upstream_gateway, "workflows", "add", name, MODEL, "--file",
                     str(EXAMPLES / "wan22_t2v.json"), "--mapping",
                     str(EXAMPLES / "wan22_t2v.mapping.json"))
    assert code == 0 and "output node 58" in out, out
    code, out = cli(upstream_gateway, "workflows", "add", name, MODEL, "--file",
                     str(EXAMPLES / "wan22_i2v.json"), "--mapping",
                     str(EXAMPLES / "wan22_i2v.mapping.json"))
    assert code == 0 and "image-to-video" in out, out
    code, out = cli(upstream_gateway, "workflows", "add", name, MODEL, "--file",
                     str(EXAMPLES / "wan22_t2v.json"), "--map", "prompt=6.inputs.txt")
    assert code == 1 and "has no input 'txt'" in out, out
    code, out = cli(upstream_gateway, "workflows", "list", name, "--json")
    assert sorted(r["kind"] for r in json.loads(out)) == ["image", "text"]

    done = finished(sdk, sdk.videos.create(model=MODEL, prompt=unique("registered"),
                                           size=SIZE, seconds="2").id)
    assert done.status == "completed", done.error

    _fake(up).paused = True
    sdk.videos.create(model=MODEL, prompt=unique("held in the queue"), size=SIZE, seconds="2")
    deadline = time.monotonic() + 60
    while not _fake(up).pending and time.monotonic() < deadline:
        time.sleep(0.05)
    code, out = cli(upstream_gateway, "channels", "test", name)
    assert code == 0 and "RTX 4090" in out and "0 running, 1 pending" in out, out
    answer = admin.test(name)
    assert answer["ok"] is True and "GiB VRAM free" in json.dumps(answer)


def _pricing_unit(gw: GatewayProcess, key: str) -> str:
    answer = httpx.get(f"{gw.base_url}/models", headers={"Authorization": f"Bearer {key}"},
                       timeout=10)
    model = next(m for m in answer.json()["data"] if m["id"] == MODEL)
    return str(model["pricing"]["unit"])


def _until_unit(gw: GatewayProcess, key: str, unit: str) -> None:
    deadline = time.monotonic() + 60  # every process reloads the catalog within ~2 s
    while _pricing_unit(gw, key) != unit:
        assert time.monotonic() < deadline, f"the catalog change never reached the API ({unit})"
        time.sleep(0.1)


def test_gpu_time_pricing_from_the_shipped_example(
    upstream_gateway: GatewayProcess, upstreams: dict[str, Upstream], admin: Admin,
    sdk: openai.OpenAI,
) -> None:
    """``models import examples/comfyui/wan-2.2-local.toml``: the create reserves 900 GPU
    seconds at $0.0005, the settlement charges what ComfyUI's own timestamps measured."""
    up = upstreams["comfyui"]
    comfy_channel(upstream_gateway, admin, up)
    code, out = cli(upstream_gateway, "models", "import", str(EXAMPLES / "wan-2.2-local.toml"))
    assert code == 0, out
    key = sdk.api_key
    try:
        _until_unit(upstream_gateway, key, "render_second")
        quote = httpx.post(f"{upstream_gateway.base_url}/videos/quote", timeout=10,
                           headers={"Authorization": f"Bearer {key}"},
                           json={"model": MODEL, "prompt": "q", "size": SIZE, "seconds": "2"})
        body = quote.json()
        assert (body["billing"], body["reserved_seconds"], body["amount_micros"]) == (
            "render_seconds", 900, 450_000), body
        video = sdk.videos.create(model=MODEL, prompt=unique("billed by the GPU second"),
                                  size=SIZE, seconds="2")
        done = finished(sdk, video.id)
        assert done.status == "completed", done.error
        measured = wire.render_seconds(_fake(up).history[prompt_id_for(video.id)]["status"])
        assert measured is not None and measured > 0
        entries = httpx.get(f"{upstream_gateway.base_url}/billing/ledger", timeout=10,
                            params={"job_id": video.id},
                            headers={"Authorization": f"Bearer {key}"}).json()["data"]
        amounts = {e["kind"]: e["amount_micros"] for e in entries}
        assert amounts["reserve"] == -450_000
        charge = 450_000 - amounts["settle"]
        assert charge == round_micros(Fraction(450_000) * exact_seconds(measured) / 900)
    finally:
        code, out = cli(upstream_gateway, "models", "update", MODEL, "--reset", "billing",
                        "--reset", "max_render_seconds", "--reset", "prices",
                        "--reset", "description")
        assert code == 0, out
        _until_unit(upstream_gateway, key, "second")

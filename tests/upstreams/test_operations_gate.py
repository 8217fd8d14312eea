"""An operation the channel that would run it cannot do is a 400 before any upstream
call, and costs nothing: no job, no ledger entry, no request upstream."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.support.server import GatewayProcess
from tests.upstreams.support import Admin, Upstream, finished, unique


def _ledger(gw: GatewayProcess, sdk: openai.OpenAI) -> list[dict[str, object]]:
    answer = httpx.get(f"{gw.base_url}/billing/ledger", params={"limit": 100},
                       headers={"Authorization": f"Bearer {sdk.api_key}"}, timeout=10)
    data: list[dict[str, object]] = answer.json()["data"]
    return data


def test_remix_on_a_channel_that_cannot_remix(upstreams: dict[str, Upstream], admin: Admin,
                                              sdk: openai.OpenAI,
                                              upstream_gateway: GatewayProcess) -> None:
    up = upstreams["omni"]  # vLLM-Omni behind the openai provider: creates only
    admin.add_channel(up, models={"sora-2": "Wan-AI/Wan2.2-TI2V-5B-Diffusers"})
    source = sdk.videos.create(model="sora-2", prompt=unique("omni source"), size="1280x720",
                               seconds="4")
    assert finished(sdk, source.id).status == "completed"
    before, calls = _ledger(upstream_gateway, sdk), len(up.calls())
    with pytest.raises(openai.BadRequestError) as err:
        sdk.videos.remix(source.id, prompt="again")
    assert err.value.body["code"] == "unsupported_by_channel"  # type: ignore[index]
    assert err.value.body["param"] == "video_id"  # type: ignore[index]
    assert _ledger(upstream_gateway, sdk) == before
    assert len(up.calls()) == calls
    assert [v.id for v in sdk.videos.list(limit=5).data][:1] == [source.id]

"""The outbound guard through a live gateway: what an upstream points the worker at.

A channel's own host:port is the operator's choice and is reached as configured (every
fake here is on 127.0.0.1). Anything else the upstream names, a redirect or a result
URL, must be a public address unless the channel opts in with
``allow_private_network``: otherwise the job fails with ``upstream_url_refused`` and
nothing is fetched from there, let alone served to the tenant.
"""

from __future__ import annotations

import json

import openai
import pytest

from tests.fakes.media import render_mp4
from tests.net.support import Target
from tests.support.server import GatewayProcess
from tests.upstreams.support import SHAPES, Admin, Upstream, finished, unique
from tests.upstreams.test_channels_admin import cli

STRICT = {"allow_private_network": False}
REFUSED = "upstream_url_refused"


def _create(sdk: openai.OpenAI, kind: str, prompt: str) -> str:
    model, size, seconds = SHAPES[kind]
    return sdk.videos.create(model=model, prompt=prompt, size=size, seconds=seconds).id


def _refused(sdk: openai.OpenAI, video_id: str) -> None:
    done = finished(sdk, video_id)
    assert done.status == "failed", done
    assert done.error is not None and done.error.code == REFUSED, done.error
    with pytest.raises(openai.NotFoundError):
        sdk.videos.download_content(video_id)


def test_a_relay_redirecting_content_to_loopback_fails_the_job_unserved(
        upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI) -> None:
    """The reproducer: ``302 Location: http://127.0.0.1:PORT/internal.mp4`` on /content
    made the worker fetch that file and serve it to the tenant as the video."""
    up = upstreams["relay"]
    admin.add_channel(up, options=STRICT)
    with Target(render_mp4(1280, 720, 4)) as internal:
        up.fake.fail_next(302, method="GET", path=r"/content$",
                          headers={"Location": f"{internal.url}/internal.mp4"})
        _refused(sdk, _create(sdk, "relay", unique("a redirected relay")))
        assert internal.hits == []


@pytest.mark.parametrize("kind", ["seedance", "veo"])
def test_a_result_url_on_a_private_address_fails_the_job(
        kind: str, upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI) -> None:
    """The fakes hand out result URLs on their "CDN": loopback under another name."""
    up = upstreams[kind]
    admin.add_channel(up, options=STRICT)
    _refused(sdk, _create(sdk, kind, unique("a private result url")))
    assert not [r for r in up.calls() if r.path.startswith(("/cdn/", "/storage/"))]


def test_the_channel_opt_in_fetches_private_results_and_is_listed(
        upstream_gateway: GatewayProcess, upstreams: dict[str, Upstream], admin: Admin,
        sdk: openai.OpenAI) -> None:
    up = upstreams["seedance"]
    farm = unique("gpu-farm").replace(" #", "-")
    added = cli(upstream_gateway, "add", farm, "--provider", "seedance", "--base-url",
                up.base_url, "--key", up.keys[0], "--model",
                "seedance-1.0-pro=seedance-1-0-pro-250528",
                "--option", "allow_private_network=true")
    assert added.returncode == 0, added.stdout
    strict = admin.add_channel(up, options=STRICT, enabled=False)["name"]

    video_id = _create(sdk, "seedance", unique("from the private farm"))
    done = finished(sdk, video_id)
    assert done.status == "completed", done.error
    assert sdk.videos.download_content(video_id).read()[4:8] == b"ftyp"

    lines = cli(upstream_gateway, "list").stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if farm in line)
    assert "private network" in lines[row + 1], lines[row: row + 2]
    other = next(i for i, line in enumerate(lines) if strict in line)
    assert "private network" not in lines[other] + lines[other + 1]
    listed = {c["name"]: c for c in json.loads(cli(upstream_gateway, "list", "--json").stdout)}
    assert listed[farm]["options"]["allow_private_network"] is True
    assert admin.channel(farm)["options"] == {"allow_private_network": True}
    assert admin.channel(strict)["options"]["allow_private_network"] is False

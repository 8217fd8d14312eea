"""Providers against their fakes on loopback, with the channel NOT opted in to private
addresses: whatever the upstream points the download at, off the channel's own host and
port, must be public. The fakes' "CDN" is loopback under another name, and a relay can
redirect anywhere, so each of these downloads is refused, and nothing is fetched."""

from __future__ import annotations

import pytest

from reelgate.providers.base import UpstreamError
from reelgate.providers.http import URL_REFUSED
from tests.fakes import OpenAIFake, SeedanceFake, VeoFake
from tests.fakes.media import render_mp4
from tests.net.support import Target

from .support import KEY_A, harness, probe_mp4, request

STRICT = {"allow_private_network": False}


async def test_a_relay_redirecting_content_to_loopback_is_refused() -> None:
    with Target(render_mp4(320, 180, 4)) as internal:
        async with harness(OpenAIFake("relay"), "openai", mode="relay", **STRICT) as h:
            done, _ = await h.until_done(await h.provider.submit(request(size="320x180"), KEY_A))
            h.fake.fail_next(302, method="GET", path=r"/content$",
                             headers={"Location": f"{internal.url}/internal.mp4"})
            with pytest.raises(UpstreamError) as caught:
                await h.download(done)
        assert caught.value.code == URL_REFUSED and "loopback" in caught.value.message
        assert internal.hits == []


@pytest.mark.parametrize(("fake", "provider", "options"), [
    (OpenAIFake("relay", content_endpoint=False), "openai", {"mode": "relay"}),
    (SeedanceFake(), "seedance", {}),
    (VeoFake(), "veo", {}),  # its Files API redirects to a storage host
])  # fmt: skip
async def test_a_result_url_on_a_private_address_is_refused(
        fake: OpenAIFake | SeedanceFake | VeoFake, provider: str, options: dict[str, str]
) -> None:
    async with harness(fake, provider, **options, **STRICT) as h:
        done, _ = await h.until_done(await h.provider.submit(request(size="1280x720"), KEY_A))
        with pytest.raises(UpstreamError) as caught:
            await h.download(done)
        assert caught.value.code == URL_REFUSED
        assert not [r for r in h.fake.requests if r.path.startswith(("/cdn/", "/storage/"))]


async def test_the_opt_in_fetches_the_same_private_result_url() -> None:
    async with harness(SeedanceFake(), "seedance", allow_private_network=True) as h:
        done, _ = await h.until_done(await h.provider.submit(request(size="1280x720"), KEY_A))
        assert probe_mp4(await h.download(done))[:2] == (1280, 720)

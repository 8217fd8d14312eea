"""What the hosted upstreams' providers share, written once.

Kling, Vidu, Runway's neighbours, Seedance, Veo, Luma and DashScope each hold one
bounded :class:`UpstreamClient` per channel, send a key in a header, and hand back
the finished file by streaming the URL the upstream reported. A provider sets its
``name`` and ``label`` and overrides only what differs (its auth header, its API
root); submit, fetch and delete are its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import httpx

from reelgate.providers.base import ChannelSpec, Credential, UpstreamJob, Variant
from reelgate.providers.http import UpstreamClient

__all__ = ["HostedProvider"]


class HostedProvider:
    name: str
    #: how error messages name the upstream ("Kling", "Veo", ...)
    label: str
    supports_remix = False
    native_variants = frozenset({Variant.VIDEO})

    def __init__(
        self, channel: ChannelSpec, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.channel = channel
        self._http = UpstreamClient(self._client_channel(channel), transport=transport)

    @staticmethod
    def _client_channel(channel: ChannelSpec) -> ChannelSpec:
        """The channel as the HTTP client sees it (some providers trim the base URL)."""
        return channel

    def _auth(self, credential: Credential) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential.secret}"}

    async def download(
        self, job: UpstreamJob, variant: Variant, credential: Credential
    ) -> AsyncIterator[bytes]:
        """Stream the result URL the upstream reported (signed links need no key,
        ``stream_result`` decides)."""
        stream = self._http.stream_result(job, variant, self._auth(credential),
                                          provider=self.label)
        async with aclosing(stream) as chunks:
            async for chunk in chunks:
                yield chunk

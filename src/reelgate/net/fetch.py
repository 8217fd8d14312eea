"""Fetch a small file a client named by URL (an ``input_reference.image_url``), safely.

Streams the body and stops at ``max_bytes``, checks the Content-Type before reading,
follows a few redirects checking every hop, and connects only to public addresses
through the guarded transport. The caller still sniffs the bytes: a Content-Type is a
claim, not a proof.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx

from reelgate.net.client import guarded_client, next_hop
from reelgate.net.policy import OutboundPolicy
from reelgate.net.ssrf import UnsafeURL, check_target
from reelgate.net.transport import DestinationRefused

__all__ = ["FetchFailed", "Fetched", "fetch_limited"]

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str
    url: str  # after redirects


class FetchFailed(Exception):
    """Why a fetch was refused; ``code`` is stable for API errors.

    ``unsafe_url`` (private address, bad scheme), ``too_large``, ``bad_status``,
    ``bad_content_type``, ``unreachable``, ``too_many_redirects``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _media_type(response: httpx.Response) -> str:
    value: str = response.headers.get("content-type", "")
    return value.split(";", 1)[0].strip().lower()


async def fetch_limited(url: str, *, max_bytes: int,
                        content_types: Collection[str] = IMAGE_TYPES,
                        policy: OutboundPolicy | None = None, timeout: float = 15.0,
                        max_redirects: int = 3,
                        client: httpx.AsyncClient | None = None) -> Fetched:
    """GET ``url`` into memory, at most ``max_bytes``, of one of ``content_types``."""
    policy = policy or OutboundPolicy()
    async with AsyncExitStack() as stack:
        http = client if client is not None else await stack.enter_async_context(
            guarded_client(policy, timeout=timeout))
        try:
            target = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise FetchFailed("unsafe_url", f"not a valid URL: {exc}") from exc
        for _ in range(max_redirects + 1):
            try:
                check_target(target, policy)
                async with http.stream("GET", target) as response:
                    hop = next_hop(response)
                    if hop is None:
                        return await _read(response, max_bytes, content_types)
                target = hop
            except (UnsafeURL, DestinationRefused) as exc:
                raise FetchFailed("unsafe_url", str(exc)) from exc
            except httpx.HTTPError as exc:
                raise FetchFailed("unreachable", f"{type(exc).__name__}: {exc}") from exc
        raise FetchFailed("too_many_redirects", f"more than {max_redirects} redirects")


async def _read(response: httpx.Response, max_bytes: int,
                content_types: Collection[str]) -> Fetched:
    if response.status_code != 200:
        raise FetchFailed("bad_status", f"the server answered HTTP {response.status_code}")
    media = _media_type(response)
    if media not in content_types:
        raise FetchFailed("bad_content_type",
                          f"Content-Type {media or 'missing'}; expected one of "
                          f"{', '.join(sorted(content_types))}")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchFailed("too_large", f"larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchFailed("too_large", f"larger than {max_bytes} bytes")
        chunks.append(chunk)
    return Fetched(b"".join(chunks), media, str(response.url))

"""Shared upstream HTTP plumbing for the HTTP-speaking providers.

Every provider instance owns one :class:`UpstreamClient`. All transport failures and
non-2xx answers go through :func:`upstream_error`, so "could the upstream have taken
this job?" is decided in exactly one place. Downloads are streamed chunk by chunk and
credentials are only ever sent to the channel's own origin, never to a CDN a redirect
or a result URL points at.

The error mapping lives in :mod:`reelgate.providers.failures` and the status words
in :mod:`reelgate.providers.vocabulary`; both are re-exported here.

The client is guarded (:mod:`reelgate.net`): the channel's own host:port, which the
operator chose, is reached as configured; any other host a redirect or a result URL
names was chosen by the upstream, and is connected to only at a checked public
address (private ones too with the channel option ``allow_private_network``). A
refusal fails the request with code :data:`URL_REFUSED`. Bodies read into memory
(JSON answers, error pages) are bounded; httpcore bounds response headers (100 KiB).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any

import httpx

from reelgate.net.client import next_hop
from reelgate.net.origin import OriginClient, TooLarge
from reelgate.net.policy import OutboundPolicy
from reelgate.net.ssrf import UnsafeURL, check_target
from reelgate.net.transport import DestinationRefused, GuardedTransport, verifying_context
from reelgate.providers.base import (
    ChannelSpec,
    ErrorKind,
    UpstreamError,
    UpstreamJob,
    Variant,
)
from reelgate.providers.failures import parse_retry_after, upstream_error
from reelgate.providers.vocabulary import map_status, parse_progress

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "MAX_BODY_BYTES",
    "MAX_MEDIA_BYTES",
    "URL_REFUSED",
    "UpstreamClient",
    "json_object",
    "map_status",
    "parse_progress",
    "parse_retry_after",
    "upstream_error",
]

CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
#: connection pools per upstream client, and connections (kept alive too) per pool
POOLS = 16
POOL_CONNECTIONS = 8
MAX_REDIRECTS = 5
CHUNK_SIZE = 64 * 1024
#: the most of a JSON answer we hold in memory; job objects are a few KiB
MAX_BODY_BYTES = 8 * 1024 * 1024
#: the most of an error body (or a JSON body where media was expected) we read
MAX_ERROR_BYTES = 64 * 1024
#: the largest file a download streams before giving up (videos are tens of MB)
MAX_MEDIA_BYTES = 4 * 1024**3
#: UpstreamError.code (and the job's error code) when the guard refused a URL
URL_REFUSED = "upstream_url_refused"
#: the request arguments the origin client handles itself; others (multipart) take httpx
_ORIGIN_KWARGS = frozenset({"headers", "params", "json", "content"})
USER_AGENT = "reelgate/0.1"

def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


class UpstreamClient:
    """One pooled, guarded ``httpx.AsyncClient`` per provider instance, with error mapping.

    ``channel.options["read_timeout"]`` (seconds) sets the read timeout; the connect
    timeout is fixed at 5 s so a dead upstream is noticed quickly. ``transport``
    replaces the guarded transport (unit tests with ``httpx.MockTransport``); every
    URL is still checked without DNS (:func:`~reelgate.net.ssrf.check_target`).
    """

    def __init__(
        self, channel: ChannelSpec, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.base_url = channel.base_url.rstrip("/")
        self._origin = _origin(httpx.URL(self.base_url))
        self.policy = OutboundPolicy.for_channel(self.base_url, channel.options)
        read = float(channel.options.get("read_timeout", DEFAULT_READ_TIMEOUT))
        timeout = httpx.Timeout(read, connect=CONNECT_TIMEOUT, pool=CONNECT_TIMEOUT)
        # Several small pools rather than one big one: httpcore walks every connection
        # of a pool (a readability check each) on every request, so with 64 polls in
        # flight one pool cost more CPU than the requests; requests take turns.
        self._clients = [httpx.AsyncClient(
            timeout=timeout,
            transport=transport or GuardedTransport(self.policy),
            follow_redirects=False,
            trust_env=False,
            headers={"user-agent": USER_AGENT},
            limits=httpx.Limits(max_connections=POOL_CONNECTIONS,
                                max_keepalive_connections=POOL_CONNECTIONS),
        ) for _ in range(1 if transport is not None else POOLS)]
        self.client = self._clients[0]
        self._turn = 0
        # the channel's own origin, where polls and submits go: a lean client of our own
        # (see reelgate.net.origin for why); unit tests with a mock transport keep httpx
        self._origin_client = None if transport is not None else OriginClient(
            httpx.URL(self.base_url), ssl_context=verifying_context(),
            connect_timeout=CONNECT_TIMEOUT, read_timeout=read, user_agent=USER_AGENT)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    async def _send(self, request: httpx.Request, *, creates: bool = False) -> httpx.Response:
        """Check and send one request (streamed); every refusal and failure mapped."""
        try:
            check_target(request.url, self.policy)
            self._turn = (self._turn + 1) % len(self._clients)
            return await self._clients[self._turn].send(request, stream=True)
        except (UnsafeURL, DestinationRefused) as exc:
            raise UpstreamError(ErrorKind.PROTOCOL, f"refused: {exc}", code=URL_REFUSED) from exc
        except httpx.HTTPError as exc:
            raise upstream_error(exc, creates=creates) from exc

    async def request_any(
        self, method: str, url: str | httpx.URL, *, creates: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """The whole answer whatever its status, at most :data:`MAX_BODY_BYTES` of it
        (else PROTOCOL), for providers that read their upstream's errors themselves.
        Transport failures and guard refusals are mapped as in :meth:`request`."""
        if self._origin_client is not None and _ORIGIN_KWARGS.issuperset(kwargs):
            answer = await self._to_origin(self._origin_client, method, url, creates, **kwargs)
            if answer is not None:
                return answer
        response = await self._send(self.client.build_request(method, url, **kwargs),
                                    creates=creates)
        try:
            return await _bounded(response, MAX_BODY_BYTES)
        except httpx.HTTPError as exc:
            raise upstream_error(exc, creates=creates) from exc

    async def _to_origin(
        self, origin: OriginClient, method: str, url: str | httpx.URL, creates: bool, *,
        headers: Mapping[str, str] | None = None, params: Mapping[str, Any] | None = None,
        json: Any = None, content: bytes | str | None = None,
    ) -> httpx.Response | None:
        """The request sent by ``origin``, or None when it is for another host."""
        # as httpx does: ``params`` (even empty) replaces the URL's own query
        if params is not None:
            target = httpx.URL(url, params=params)
        else:
            target = url if isinstance(url, httpx.URL) else httpx.URL(url)
        if not origin.serves(target):
            return None
        fields = dict(headers or {})
        body = b""
        if json is not None:
            body = _json_bytes(json)
            if not any(name.lower() == "content-type" for name in fields):
                fields["Content-Type"] = "application/json"
        elif isinstance(content, str):
            body = content.encode()
        elif content is not None:
            body = content
        try:
            raw = await origin.request(method, target, headers=fields, body=body,
                                       limit=MAX_BODY_BYTES)
        except TooLarge as exc:
            raise UpstreamError(ErrorKind.PROTOCOL, str(exc), status_code=exc.status_code
                                ) from None
        except httpx.HTTPError as exc:
            raise upstream_error(exc, creates=creates) from exc
        return httpx.Response(raw.status_code, headers=raw.headers, content=raw.content,
                              request=httpx.Request(method, target, headers=fields))

    async def request(
        self, method: str, url: str, *, creates: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """Send a request; raise :class:`UpstreamError` unless the answer is 2xx."""
        response = await self.request_any(method, url, creates=creates, **kwargs)
        if response.is_success:
            return response
        raise upstream_error(response, creates=creates)

    async def request_json(
        self, method: str, url: str, *, creates: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        """Like :meth:`request`, then insist on a JSON object body (else PROTOCOL)."""
        response = await self.request(method, url, creates=creates, **kwargs)
        return json_object(response)

    async def probe(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> None:
        """An authenticated GET proving that the base URL and the key both work.

        2xx with a JSON object passes. With ``missing_ok`` (the GET names a job that
        cannot exist) a 404 in JSON, the upstream's own error shape, passes too. A 404
        otherwise means the path does not exist there, i.e. a wrong base URL; an HTML
        page with 200 is not the API either (PROTOCOL).
        """
        response = await self.request_any("GET", url, headers=dict(headers), params=params)
        if response.is_success:
            json_object(response)
            return
        if response.status_code == 404:
            if missing_ok and _is_json(response):
                return
            raise UpstreamError(
                ErrorKind.NOT_FOUND,
                f"{response.request.url.copy_with(query=None)} does not exist (HTTP 404)",
                status_code=404,
            )
        raise upstream_error(response)

    async def stream_result(
        self, job: UpstreamJob, variant: Variant, auth: Mapping[str, str], *, provider: str
    ) -> AsyncGenerator[bytes, None]:
        """Stream a finished job's ``result_url``, for upstreams that serve only the video."""
        if variant is not Variant.VIDEO:
            raise UpstreamError(ErrorKind.NOT_FOUND, f"{provider} serves no {variant.value}")
        if not job.result_url:
            raise UpstreamError(ErrorKind.NOT_FOUND, f"{job.upstream_id} has no result URL")
        async with aclosing(self.stream(job.result_url, auth=auth)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def stream(
        self,
        url: str,
        *,
        auth: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Yield the body of a GET chunk by chunk, following redirects by hand.

        ``auth`` headers go only to the channel's own origin: a result URL or redirect
        to a storage host gets no credential, which is what signed URLs expect anyway.
        Every hop is checked by the guard before it is connected to.
        """
        target = httpx.URL(url) if params is None else httpx.URL(url).copy_merge_params(params)
        for _ in range(MAX_REDIRECTS + 1):
            headers = auth if _origin(target) == self._origin else None
            response = await self._send(self.client.build_request("GET", target, headers=headers))
            try:
                hop = next_hop(response)
                if hop is not None:
                    target = hop
                    continue
                await _check_media(response, credentialed=headers is not None)
                size = 0
                async for chunk in response.aiter_bytes(CHUNK_SIZE):
                    size += len(chunk)
                    if size > MAX_MEDIA_BYTES:  # an endless "video" must not fill the disk
                        raise UpstreamError(ErrorKind.PROTOCOL,
                                            f"upstream file larger than {MAX_MEDIA_BYTES} bytes")
                    yield chunk
                return
            except httpx.HTTPError as exc:
                raise upstream_error(exc) from exc
            finally:
                await response.aclose()
        raise UpstreamError(ErrorKind.PROTOCOL, f"more than {MAX_REDIRECTS} redirects for {url}")

    async def aclose(self) -> None:
        if self._origin_client is not None:
            await self._origin_client.aclose()
        for client in self._clients:
            await client.aclose()


def _json_bytes(value: Any) -> bytes:
    """A JSON body encoded as httpx encodes ``json=`` (compact, UTF-8, no NaN)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode()


async def _bounded(response: httpx.Response, limit: int, *, truncate: bool = False
                   ) -> httpx.Response:
    """A streamed response as a read one, holding at most ``limit`` decoded bytes.

    Past the limit: a PROTOCOL error, or with ``truncate`` the first ``limit`` bytes
    (enough for an error message). The stream is closed either way.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes(CHUNK_SIZE):
            size += len(chunk)
            if size > limit:
                if not truncate:
                    raise UpstreamError(
                        ErrorKind.PROTOCOL, f"upstream answer larger than {limit} bytes",
                        status_code=response.status_code)
                chunks.append(chunk[: len(chunk) - (size - limit)])
                break
            chunks.append(chunk)
    finally:
        await response.aclose()
    headers = [(k, v) for k, v in response.headers.multi_items()
               if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
    return httpx.Response(response.status_code, headers=headers, content=b"".join(chunks),
                          request=response.request, extensions=response.extensions)


async def _check_media(response: httpx.Response, *, credentialed: bool) -> None:
    """Refuse error answers and JSON "not ready" bodies dressed up as media.

    A 401/403 from a host we sent no credential to is an expired or revoked signed
    URL (S3, TOS and GCS all answer 403), so it means the asset is gone, not the key.
    """
    if not response.is_success:
        error = upstream_error(await _bounded(response, MAX_ERROR_BYTES, truncate=True))
        if error.kind is ErrorKind.AUTH and not credentialed:
            error.kind = ErrorKind.NOT_FOUND
        raise error
    if response.headers.get("content-type", "").startswith("application/json"):
        body = (await _bounded(response, MAX_ERROR_BYTES, truncate=True)).text[:300]
        raise UpstreamError(
            ErrorKind.PROTOCOL, f"expected media, got JSON: {body}", status_code=200
        )


def _is_json(response: httpx.Response) -> bool:
    try:
        return isinstance(response.json(), dict)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object, or a PROTOCOL error saying what came instead."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UpstreamError(
            ErrorKind.PROTOCOL,
            f"unparseable JSON from upstream: {response.text[:200]!r}",
            status_code=response.status_code,
        ) from exc
    if not isinstance(body, dict):
        raise UpstreamError(
            ErrorKind.PROTOCOL,
            f"expected a JSON object, got {type(body).__name__}",
            status_code=response.status_code,
        )
    return body

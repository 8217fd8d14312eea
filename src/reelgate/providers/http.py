"""Shared upstream HTTP plumbing for the HTTP-speaking providers.

Every provider instance owns one :class:`UpstreamClient`. All transport failures and
non-2xx answers go through :func:`upstream_error`, so "could the upstream have taken
this job?" is decided in exactly one place. Downloads are streamed chunk by chunk and
credentials are only ever sent to the channel's own origin, never to a CDN a redirect
or a result URL points at.

The vocabulary helpers at the bottom (:func:`map_status`, :func:`parse_progress`) are
shared by providers whose upstreams speak a status word; relays in particular invent
their own words, and an unknown word must never fail a job that may still finish.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import time
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any

import httpx

from reelgate.providers.base import (
    ChannelSpec,
    ErrorKind,
    UpstreamError,
    UpstreamJob,
    UpstreamStatus,
    Variant,
)

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "UpstreamClient",
    "json_object",
    "map_status",
    "parse_progress",
    "parse_retry_after",
    "upstream_error",
]

CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
MAX_REDIRECTS = 5
CHUNK_SIZE = 64 * 1024

# Failures that happen before a single request byte could reach the upstream.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
    httpx.LocalProtocolError,
)

# Bad-key codes some upstreams send with a plain 400 (the Gemini API does).
_AUTH_CODES = frozenset({"API_KEY_INVALID", "invalid_api_key", "AuthenticationError"})

log = logging.getLogger(__name__)


def upstream_error(
    failure: httpx.Response | httpx.HTTPError, *, creates: bool = False
) -> UpstreamError:
    """Map a transport failure or a non-2xx response to an :class:`UpstreamError`.

    ``creates`` marks a request that may create a job upstream: once such a request
    has left the socket, silence means the job may exist, so it becomes AMBIGUOUS; for
    idempotent calls the same silence is merely UNAVAILABLE.
    """
    if isinstance(failure, httpx.HTTPError):
        return _transport_error(failure, creates=creates)
    status = failure.status_code
    code, message = _error_details(failure)
    if status == 429:
        return UpstreamError(
            ErrorKind.RATE_LIMITED,
            message or "rate limited",
            status_code=status,
            code=code,
            retry_after=parse_retry_after(failure.headers),
        )
    kind = ErrorKind.AUTH if code in _AUTH_CODES else _kind_for_status(status, creates=creates)
    return UpstreamError(kind, message or f"HTTP {status}", status_code=status, code=code)


def _transport_error(exc: httpx.HTTPError, *, creates: bool) -> UpstreamError:
    detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, _NOT_SENT) or not creates:
        return UpstreamError(ErrorKind.UNAVAILABLE, f"upstream unreachable ({detail})")
    return UpstreamError(ErrorKind.AMBIGUOUS, f"no answer after sending a create ({detail})")


def _kind_for_status(status: int, *, creates: bool) -> ErrorKind:
    if status in (401, 403):
        return ErrorKind.AUTH
    if status in (404, 410):
        return ErrorKind.NOT_FOUND
    if status == 408:
        return ErrorKind.UNAVAILABLE  # the upstream says it never got the whole request
    if status == 504 and creates:
        # A gateway timed out waiting for the service behind it, which may have
        # accepted the job: only the service itself answering 5xx proves a refusal.
        return ErrorKind.AMBIGUOUS
    if status >= 500:
        return ErrorKind.UNAVAILABLE
    return ErrorKind.REJECTED


def _error_details(response: httpx.Response) -> tuple[str | None, str]:
    """Pull (code, message) out of the OpenAI, Google, Ark or a relay's own envelope."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, response.text.strip()[:300]
    if not isinstance(body, dict):
        return None, str(body)[:300]
    err = body.get("error")
    if isinstance(err, str):
        return _as_code(body.get("code")), err
    source: dict[str, Any] = err if isinstance(err, dict) else body
    message = source.get("message") or source.get("detail") or source.get("msg") or ""
    code = (
        _google_reason(source.get("details"))
        or _as_code(source.get("code"), strings_only=True)
        or _as_code(source.get("status"), strings_only=True)
        or _as_code(source.get("type"), strings_only=True)
        or _as_code(source.get("code"))
    )
    return code, str(message)


def _google_reason(details: Any) -> str | None:
    """Google puts the specific cause (e.g. ``API_KEY_INVALID``) in ``details[].reason``."""
    if isinstance(details, list):
        for item in details:
            if isinstance(item, dict) and isinstance(item.get("reason"), str):
                return str(item["reason"])
    return None


def _as_code(value: Any, *, strings_only: bool = False) -> str | None:
    if isinstance(value, str) and value:
        return value
    if not strings_only and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


class UpstreamClient:
    """One pooled ``httpx.AsyncClient`` per provider instance, with error mapping.

    ``channel.options["read_timeout"]`` (seconds) sets the read timeout; the connect
    timeout is fixed at 5 s so a dead upstream is noticed quickly.
    """

    def __init__(
        self, channel: ChannelSpec, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.base_url = channel.base_url.rstrip("/")
        self._origin = _origin(httpx.URL(self.base_url))
        read = float(channel.options.get("read_timeout", DEFAULT_READ_TIMEOUT))
        timeout = httpx.Timeout(read, connect=CONNECT_TIMEOUT, pool=CONNECT_TIMEOUT)
        self.client = httpx.AsyncClient(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"user-agent": "reelgate/0.1"},
        )

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    async def request(
        self, method: str, url: str, *, creates: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """Send a request; raise :class:`UpstreamError` unless the answer is 2xx."""
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise upstream_error(exc, creates=creates) from exc
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
        try:
            response = await self.client.get(url, headers=dict(headers), params=params)
        except httpx.HTTPError as exc:
            raise upstream_error(exc) from exc
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
        """
        target = httpx.URL(url) if params is None else httpx.URL(url).copy_merge_params(params)
        for _ in range(MAX_REDIRECTS + 1):
            headers = auth if _origin(target) == self._origin else None
            request = self.client.build_request("GET", target, headers=headers)
            try:
                response = await self.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise upstream_error(exc) from exc
            try:
                if response.is_redirect and "location" in response.headers:
                    target = response.url.join(response.headers["location"])
                    continue
                await _check_media(response, credentialed=headers is not None)
                async for chunk in response.aiter_bytes(CHUNK_SIZE):
                    yield chunk
                return
            except httpx.HTTPError as exc:
                raise upstream_error(exc) from exc
            finally:
                await response.aclose()
        raise UpstreamError(ErrorKind.PROTOCOL, f"more than {MAX_REDIRECTS} redirects for {url}")

    async def aclose(self) -> None:
        await self.client.aclose()


async def _check_media(response: httpx.Response, *, credentialed: bool) -> None:
    """Refuse error answers and JSON "not ready" bodies dressed up as media.

    A 401/403 from a host we sent no credential to is an expired or revoked signed
    URL (S3, TOS and GCS all answer 403), so it means the asset is gone, not the key.
    """
    if not response.is_success:
        await response.aread()
        error = upstream_error(response)
        if error.kind is ErrorKind.AUTH and not credentialed:
            error.kind = ErrorKind.NOT_FOUND
        raise error
    if response.headers.get("content-type", "").startswith("application/json"):
        body = (await response.aread()).decode("utf-8", "replace")[:300]
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


# --- status vocabulary ------------------------------------------------------------------

_SYNONYMS: dict[str, UpstreamStatus] = {
    **dict.fromkeys(("pending", "submitted", "not_start", "queued"), UpstreamStatus.QUEUED),
    **dict.fromkeys(
        ("processing", "running", "in_progress", "generating"), UpstreamStatus.IN_PROGRESS
    ),
    **dict.fromkeys(
        ("succeeded", "success", "completed", "finished", "done"), UpstreamStatus.COMPLETED
    ),
    **dict.fromkeys(
        ("failed", "failure", "error", "cancelled", "canceled", "expired"),
        UpstreamStatus.FAILED,
    ),
}


def map_status(raw: str, *, upstream: str, job: str) -> UpstreamStatus:
    """Map a status word; an unknown word is IN_PROGRESS (never FAILED) plus a warning.

    A relay saying ``unknown`` or ``created`` has not told us the job failed, and
    failing it would refund a job the upstream may still finish and bill.
    """
    word = raw.strip().lower().replace("-", "_").replace(" ", "_")
    status = _SYNONYMS.get(word)
    if status is None:
        log.warning("%s: unknown status %r for job %s; treating as in_progress", upstream, raw, job)
        return UpstreamStatus.IN_PROGRESS
    return status


def parse_progress(value: Any) -> int | None:
    """Progress as an int percentage from an int, a float or a string like ``"45%"``."""
    if isinstance(value, bool) or value is None:
        return None
    number: float
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().rstrip("%").strip())
        except ValueError:
            return None
    else:
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return max(0, min(100, round(number)))

"""What an upstream failure means: one mapping from HTTP answers and transport errors.

"Could the upstream have taken this job?" is decided here and nowhere else, for every
provider: :func:`upstream_error` turns a non-2xx response or an httpx error into an
:class:`UpstreamError` whose kind drives failover, retries and refunds.
"""

from __future__ import annotations

import email.utils
import json
import socket
import time
from collections.abc import Mapping
from typing import Any

import httpx

from reelgate.providers.base import ErrorKind, UpstreamError

__all__ = ["parse_retry_after", "upstream_error"]

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


def _cause(exc: BaseException) -> str | None:
    """What an operator calls it, from the errors under httpx's: "connection refused"."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "host name not resolved"
        if isinstance(seen, ConnectionResetError):
            return "connection reset"
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return None


def _transport_error(exc: httpx.HTTPError, *, creates: bool) -> UpstreamError:
    detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
    cause = _cause(exc)
    if cause:
        detail = f"{cause}; {detail}"
    transport = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
    if isinstance(exc, _NOT_SENT) or not creates:
        return UpstreamError(ErrorKind.UNAVAILABLE, f"upstream unreachable ({detail})",
                             transport=transport)
    return UpstreamError(ErrorKind.AMBIGUOUS, f"no answer after sending a create ({detail})",
                         transport=transport)


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

"""Kling's numeric service codes, turned into what they mean for a job.

Every Kling answer carries ``{"code", "message", "request_id"}``; ``code`` 0 is
success. The HTTP status already says most of it (401 key, 429 throttled, 5xx down),
but a few codes travel under a misleading status and are corrected here:

* 1100-1102 (HTTP 429): the *account* is in arrears or its resource pack is used
  up. Waiting does not fix that, another credential might: AUTH, so the job fails
  over to the next key and this one cools down.
* 1103 (403) and 1304 (429, IP allow-list): this key cannot be used from here: AUTH.
* 1300/1301 (400): the platform's content policy refused the input:
  ``moderation_blocked``, like every provider.
* 1302/1303 (429): too fast, or more concurrent tasks than the pack allows: a plain
  rate limit (RATE_LIMITED keeps the job queued; nothing was created).
* 5002 (504): Kling's own "internal timeout" on a create may have made the task:
  AMBIGUOUS (the shared mapper already treats a 504 create so).
"""

from __future__ import annotations

from reelgate.providers.base import ErrorKind, UpstreamError

__all__ = ["BALANCE_CODE", "MODERATION_CODE", "from_body", "refine"]

MODERATION_CODE = "moderation_blocked"
BALANCE_CODE = "upstream_insufficient_balance"

#: service code -> (kind, our error code, what it means)
_CODES: dict[int, tuple[ErrorKind, str, str]] = {
    1000: (ErrorKind.AUTH, "upstream_auth_failed", "authentication failed"),
    1001: (ErrorKind.AUTH, "upstream_auth_failed", "Authorization header is empty"),
    1002: (ErrorKind.AUTH, "upstream_auth_failed", "Authorization is invalid"),
    1003: (ErrorKind.AUTH, "upstream_auth_failed", "token not yet valid (clock skew?)"),
    1004: (ErrorKind.AUTH, "upstream_auth_failed", "token expired"),
    1100: (ErrorKind.AUTH, "upstream_account_error", "account exception"),
    1101: (ErrorKind.AUTH, BALANCE_CODE, "account in arrears"),
    1102: (ErrorKind.AUTH, BALANCE_CODE, "resource pack depleted or expired"),
    1103: (ErrorKind.AUTH, "upstream_forbidden", "no access to this resource or model"),
    1200: (ErrorKind.REJECTED, "upstream_invalid_request", "invalid request parameters"),
    1201: (ErrorKind.REJECTED, "upstream_invalid_request", "invalid parameter value"),
    1202: (ErrorKind.NOT_FOUND, "upstream_not_found", "invalid request method"),
    1203: (ErrorKind.NOT_FOUND, "upstream_not_found", "requested resource does not exist"),
    1300: (ErrorKind.REJECTED, MODERATION_CODE, "platform policy triggered"),
    1301: (ErrorKind.REJECTED, MODERATION_CODE, "content security policy triggered"),
    1302: (ErrorKind.RATE_LIMITED, "rate_limited", "requests too fast"),
    1303: (ErrorKind.RATE_LIMITED, "rate_limited", "concurrency over the resource pack limit"),
    1304: (ErrorKind.AUTH, "upstream_forbidden", "IP allow-list policy"),
    5000: (ErrorKind.UNAVAILABLE, "upstream_error", "server internal error"),
    5001: (ErrorKind.UNAVAILABLE, "upstream_error", "server temporarily unavailable"),
}


def _number(code: str | None) -> int | None:
    try:
        return int(code) if code is not None else None
    except ValueError:
        return None


def refine(exc: UpstreamError) -> UpstreamError:
    """Correct the kind and code of an error mapped from an HTTP answer of Kling's."""
    entry = _CODES.get(_number(exc.code) or -1)
    if entry is None:
        return exc
    kind, code, meaning = entry
    if exc.kind is ErrorKind.AMBIGUOUS:  # a maybe-created task stays maybe-created
        kind = ErrorKind.AMBIGUOUS
    text = f"Kling {exc.code} ({meaning}): {exc.message}"
    return UpstreamError(kind, text, status_code=exc.status_code, code=code,
                         retry_after=exc.retry_after)


def from_body(code: object, message: object, *, status: int) -> UpstreamError:
    """An error for a 2xx answer whose body still carries a non-zero ``code``."""
    raw = str(code)
    base = UpstreamError(ErrorKind.REJECTED, str(message or "error"), status_code=status,
                         code=raw)
    refined = refine(base)
    if refined is base:
        return UpstreamError(ErrorKind.PROTOCOL, f"Kling code {raw}: {message}",
                             status_code=status, code=raw)
    return refined

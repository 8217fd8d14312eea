"""MiniMax's error vocabulary, mapped to what each error means for a job.

MiniMax reports errors two ways. The V1 API answers HTTP 200 with
``base_resp.status_code`` non-zero (a rate limit, a bad key and an empty wallet all
arrive as "200 OK"), so every V1 body must be checked before it is believed. The V2
API answers a real HTTP status with ``{"type": "error", "error": {"type", "message":
"... (1008)"}}``: the numeric code is only in the message. Both carry the same codes.

An empty wallet (1008) is the channel's problem, not the client's: it is AUTH, so
the router moves on to another key or channel. Sensitive input (1026) and output
(1027) are ``moderation_blocked`` like every other provider's moderation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reelgate.providers.base import ErrorKind, UpstreamError

__all__ = ["MODERATION_CODE", "base_resp_code", "check_base_resp", "code_error", "refine"]

MODERATION_CODE = "moderation_blocked"

RATE_LIMIT = frozenset({1002, 1039})
AUTH = frozenset({1004, 2049})
NO_BALANCE = 1008
SENSITIVE = frozenset({1026, 1027})
INVALID_PARAMS = 2013
INTERNAL = frozenset({1000, 1013})
TIMEOUT = 1001

_CODE_IN_MESSAGE = re.compile(r"\((\d{4})\)\s*$")
_V2_TYPES: Mapping[str, ErrorKind] = {
    "authorized_error": ErrorKind.AUTH,
    "insufficient_balance_error": ErrorKind.AUTH,
    "rate_limit_error": ErrorKind.RATE_LIMITED,
}


def code_error(
    code: int,
    message: str,
    *,
    creates: bool = False,
    lookup: bool = False,
    status: int | None = None,
    retry_after: float | None = None,
) -> UpstreamError:
    """The :class:`UpstreamError` a MiniMax status code stands for.

    ``lookup`` marks a call that names a task or file: there an "invalid params"
    (2013) answer means the id is unknown to this key, i.e. NOT_FOUND.
    """
    text = f"{message or 'MiniMax error'} (MiniMax {code})"
    kind, our_code = _classify(code, creates=creates, lookup=lookup)
    return UpstreamError(kind, text, status_code=status, code=our_code, retry_after=retry_after)


def _classify(code: int, *, creates: bool, lookup: bool) -> tuple[ErrorKind, str]:
    if code in RATE_LIMIT:
        return ErrorKind.RATE_LIMITED, "rate_limited"
    if code in AUTH:
        return ErrorKind.AUTH, "invalid_api_key"
    if code == NO_BALANCE:
        return ErrorKind.AUTH, "insufficient_balance"
    if code in SENSITIVE:
        return ErrorKind.REJECTED, MODERATION_CODE
    if code == INVALID_PARAMS:
        return (ErrorKind.NOT_FOUND, "not_found") if lookup else (
            ErrorKind.REJECTED, "invalid_parameters")
    if code == TIMEOUT and creates:
        # the service timed out inside: the task may have been made without an id
        return ErrorKind.AMBIGUOUS, "upstream_timeout"
    if code in INTERNAL or code == TIMEOUT:
        return ErrorKind.UNAVAILABLE, "upstream_error"
    return ErrorKind.REJECTED, f"minimax_{code}"


def base_resp_code(body: Mapping[str, Any]) -> tuple[int, str]:
    """``(status_code, status_msg)`` of a body's ``base_resp``; (0, "") when absent."""
    resp = body.get("base_resp")
    if not isinstance(resp, dict):
        return 0, ""
    code = resp.get("status_code", 0)
    try:
        number = int(code)
    except (TypeError, ValueError):
        number = -1  # a code we cannot read is not a success
    return number, str(resp.get("status_msg") or "")


def check_base_resp(
    body: Mapping[str, Any], *, creates: bool = False, lookup: bool = False
) -> None:
    """Raise the error a HTTP-200 body carries in ``base_resp``, if any."""
    code, message = base_resp_code(body)
    if code != 0:
        raise code_error(code, message, creates=creates, lookup=lookup, status=200)


def refine(exc: UpstreamError, *, creates: bool = False, lookup: bool = False) -> UpstreamError:
    """Sharpen a generic HTTP error with the MiniMax code in a V2 error message.

    The generic mapper already decided by HTTP status; the code decides better
    (402 + 1008 is an empty wallet, 422 + 1026 is moderation). 5xx stay as they are.
    """
    if exc.status_code is not None and exc.status_code >= 500:
        return exc
    found = _CODE_IN_MESSAGE.search(exc.message)
    if found:
        message = exc.message[: found.start()].rstrip()
        return code_error(int(found.group(1)), message, creates=creates, lookup=lookup,
                          status=exc.status_code, retry_after=exc.retry_after)
    kind = _V2_TYPES.get(exc.code or "")
    if kind is not None:
        exc.kind = kind
    return exc

"""DashScope's error vocabulary, mapped to what each error means for a job.

Every DashScope error is ``{"request_id", "code", "message"}`` with a string code
(``InvalidApiKey``, ``Arrearage``, ``Throttling.RateQuota``...), usually under the
HTTP status the code implies, but not always: an error can arrive as "200 OK", so
a body with a top-level ``code`` is an error whatever its status. The code, not the
status, decides:

* ``Throttling*`` is a rate limit (RATE_LIMITED: the key cools down, nothing was made).
* ``InvalidApiKey``, ``AccessDenied*``, ``Model.AccessDenied``: this key cannot do it.
* ``Arrearage`` (overdue account) and ``AllocationQuota.FreeTierOnly`` (free quota
  used up, paid use switched off) are the *account's* problem: AUTH as well, so the
  job moves to another key or channel and this one cools down.
* ``DataInspectionFailed`` (and ``IPInfringementSuspect``): content moderation
  refused the input, ``moderation_blocked``, never retried.
* ``InternalError.Timeout`` on a create may have made the task: AMBIGUOUS.

Sources: Model Studio "Status codes" / "Error messages" pages
(alibabacloud.com/help/en/model-studio/error-code).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reelgate.providers.base import ErrorKind, UpstreamError

__all__ = ["BALANCE_CODE", "MODERATION_CODE", "body_error", "classify", "is_moderation",
           "refine"]

MODERATION_CODE = "moderation_blocked"
BALANCE_CODE = "upstream_insufficient_balance"

#: exact code -> (kind, our code)
_EXACT: Mapping[str, tuple[ErrorKind, str]] = {
    "InvalidApiKey": (ErrorKind.AUTH, "invalid_api_key"),
    "Arrearage": (ErrorKind.AUTH, BALANCE_CODE),
    "AllocationQuota.FreeTierOnly": (ErrorKind.AUTH, BALANCE_CODE),
    "Model.AccessDenied": (ErrorKind.AUTH, "upstream_forbidden"),
    "ModelNotFound": (ErrorKind.REJECTED, "upstream_model_unavailable"),
    "Model.NotFound": (ErrorKind.REJECTED, "upstream_model_unavailable"),
    "IPInfringementSuspect": (ErrorKind.REJECTED, MODERATION_CODE),
    "InternalError.Timeout": (ErrorKind.UNAVAILABLE, "upstream_timeout"),
}
#: code prefix -> (kind, our code), tried in order when no exact entry matches
_PREFIXES: tuple[tuple[str, ErrorKind, str], ...] = (
    ("Throttling", ErrorKind.RATE_LIMITED, "rate_limited"),
    ("DataInspection", ErrorKind.REJECTED, MODERATION_CODE),
    ("AccessDenied", ErrorKind.AUTH, "upstream_forbidden"),
    ("InvalidParameter", ErrorKind.REJECTED, "upstream_invalid_request"),
    ("BadRequest", ErrorKind.REJECTED, "upstream_invalid_request"),
    ("InvalidURL", ErrorKind.REJECTED, "upstream_invalid_request"),
    ("InvalidFile", ErrorKind.REJECTED, "upstream_invalid_request"),
    ("InternalError", ErrorKind.UNAVAILABLE, "upstream_error"),
    ("SystemError", ErrorKind.UNAVAILABLE, "upstream_error"),
    ("ServiceUnavailable", ErrorKind.UNAVAILABLE, "upstream_error"),
)


def classify(code: str, *, creates: bool = False) -> tuple[ErrorKind, str] | None:
    """(kind, our code) for a DashScope code; None for a code not listed here."""
    if code == "InternalError.Timeout" and creates:
        return ErrorKind.AMBIGUOUS, "upstream_timeout"  # the task may exist
    entry = _EXACT.get(code)
    if entry is not None:
        return entry
    for prefix, kind, ours in _PREFIXES:
        if code.startswith(prefix):
            return kind, ours
    return None


def is_moderation(code: str) -> bool:
    """Whether a failed task's ``output.code`` means moderation stopped it."""
    found = classify(code)
    return found is not None and found[1] == MODERATION_CODE


def refine(exc: UpstreamError, *, creates: bool = False) -> UpstreamError:
    """Correct the kind of an error the shared HTTP mapper made, by DashScope's code.

    A create that may have reached the service (AMBIGUOUS: a 504, a timeout) stays
    AMBIGUOUS whatever the code says, and a code we do not know keeps the kind its
    HTTP status gave.
    """
    found = classify(exc.code or "", creates=creates)
    if found is None:
        return exc
    kind, ours = found
    if exc.kind is ErrorKind.AMBIGUOUS:
        kind = ErrorKind.AMBIGUOUS
    return UpstreamError(kind, f"DashScope {exc.code}: {exc.message}", status_code=exc.status_code,
                         code=ours, retry_after=exc.retry_after)


def body_error(body: Mapping[str, Any], *, status: int, creates: bool = False
               ) -> UpstreamError | None:
    """The error a 2xx body carries in a top-level ``code``, if it carries one.

    An unknown code under a 200 still names an error, not a task, so it is REJECTED
    (the job fails, and is refunded) rather than taken for a success.
    """
    code = body.get("code")
    if not isinstance(code, str) or not code:
        return None
    message = str(body.get("message") or "error")
    kind, ours = classify(code, creates=creates) or (ErrorKind.REJECTED, f"dashscope_{code}")
    return UpstreamError(kind, f"DashScope {code}: {message}", status_code=status, code=ours)

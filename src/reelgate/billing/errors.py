"""The refusals money and key limits can cause, in OpenAI's error vocabulary.

OpenAI answers an exhausted balance with HTTP 429 and type/code ``insufficient_quota``;
the SDK would retry any 429, so refusals that waiting cannot fix carry
``x-should-retry: false``.
"""

from __future__ import annotations

from reelgate.errors import APIError, PermissionDenied, RateLimited

__all__ = ["InFlightLimit", "InsufficientQuota", "ModelNotAllowed", "SpendCapExceeded"]

_NO_RETRY = {"x-should-retry": "false"}


class InsufficientQuota(APIError):
    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers=_NO_RETRY)


class SpendCapExceeded(APIError):
    """The key's own spend cap, independent of the tenant's balance."""

    status = 429
    type = "insufficient_quota"
    code = "spend_cap_exceeded"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers=_NO_RETRY)


class ModelNotAllowed(PermissionDenied):
    code = "model_not_allowed"

    def __init__(self, message: str) -> None:
        super().__init__(message, param="model")


class InFlightLimit(RateLimited):
    code = "too_many_inflight_jobs"

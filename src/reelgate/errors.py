"""The errors a client can see, each carrying the parts of OpenAI's error envelope.

Services raise these; the API layer renders ``{"error": {message, type, param, code}}``
with the status. Nothing here knows about HTTP frameworks.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConflictError",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RangeNotSatisfiable",
    "RateLimited",
    "ServiceUnavailable",
]


class APIError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(APIError):
    status = 400
    type = "invalid_request_error"


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "payload_too_large"


class AuthenticationError(APIError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(APIError):
    status = 403
    type = "invalid_request_error"
    code = "permission_denied"


class NotFound(APIError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ConflictError(APIError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class RangeNotSatisfiable(APIError):
    status = 416
    type = "invalid_request_error"
    code = "range_not_satisfiable"


class RateLimited(APIError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class ServiceUnavailable(APIError):
    status = 503
    type = "server_error"
    code = "service_unavailable"

"""Every error leaves the API in OpenAI's envelope, whatever raised it."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from reelgate.api.allow import allow_header, allowed_methods
from reelgate.api.nul import unstorable_text
from reelgate.errors import APIError

__all__ = ["error_response", "install_error_handlers", "unexpected_response"]

log = logging.getLogger(__name__)

_HTTP_TYPES = {401: "invalid_request_error", 404: "invalid_request_error",
               405: "invalid_request_error", 429: "rate_limit_error"}


def error_response(err: APIError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


def _envelope(status: int, message: str, type_: str, param: str | None = None,
              code: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return error_response(exc)


_VALIDATION_CODES = {"missing": "missing_required_parameter", "json_invalid": "invalid_json",
                     "extra_forbidden": "unknown_parameter"}


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    kind = str(first.get("type", ""))
    msg = str(first.get("msg", "invalid")).rstrip(".")
    code = _VALIDATION_CODES.get(kind, "invalid_value")
    where = first.get("loc", ())
    loc = [str(p) for p in where if p not in ("body", "query", "path", "header")]
    param = None if kind == "json_invalid" else ".".join(loc) or None
    if kind == "json_invalid":
        message = f"We could not parse the JSON body of your request: {msg}."
    elif param is None:  # the body as a whole: absent, or not an object
        message = f"The request body is missing or invalid: {msg}."
    elif kind == "missing":
        message = f"Missing required parameter: '{param}'."
    else:
        message = f"Invalid value for '{param}': {msg}."
    return _envelope(400, message, "invalid_request_error", param, code)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = str(exc.detail)
    if status == 404:
        message = "Unknown route. See https://platform.openai.com/docs/api-reference/videos."
    elif status == 405:
        message = "Method not allowed for this route."
    resp = _envelope(status, message, _HTTP_TYPES.get(status, "invalid_request_error"),
                     None, {404: "unknown_url", 405: "method_not_allowed"}.get(status))
    if exc.headers:
        resp.headers.update(exc.headers)
    if status == 405:  # every route's methods on this path, not the first route's
        methods = allowed_methods(request.app.router.routes, request.scope)
        if methods:
            resp.headers["allow"] = allow_header(methods)
    return resp


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    return unexpected_response(exc)


def unexpected_response(exc: Exception) -> JSONResponse:
    """What any exception that is not an :class:`APIError` becomes: a 500 (logged), or
    a 400 when the database refused a NUL in the client's text."""
    if unstorable_text(exc):  # a NUL the edges did not see: the client's text, not our bug
        return _envelope(400, "A text value in the request holds a NUL character.",
                         "invalid_request_error", None, "invalid_value")
    log.exception("unhandled error", exc_info=exc)
    return _envelope(500, "The server had an error while processing your request.",
                     "server_error", None, "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

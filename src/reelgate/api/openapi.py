"""The OpenAPI document, true to what the server does.

FastAPI documents what it can see: parameters it validates, a ``422`` it never sends
here (validation errors leave as ``400``, :mod:`reelgate.api.errors`), and ``{}`` for
handlers that return a ``JSONResponse`` or read their body by hand. Each route
therefore declares its answers with :func:`answers` (the success schema and every
error status it can send, all in OpenAI's envelope) and, when it reads its body
itself, the body with :func:`request_body`; :func:`install` removes the ``422``s and
adds the ``400`` any input can earn (a NUL in a parameter is refused before routing).
``tests/unit/test_openapi.py`` fails for a route that does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from reelgate.api.schemas import ErrorBody

__all__ = ["BINARY", "CONTENT_EXTRA", "ERROR_STATUSES", "IDEMPOTENCY_KEY", "answers", "install",
           "request_body"]

#: every error status the API sends, and what it means
ERROR_STATUSES: dict[int, str] = {
    400: "The request is invalid (the error names the parameter).",
    401: "No credential, or one that is wrong, revoked or expired.",
    403: "The credential may not do this.",
    404: "No such object for this credential.",
    409: "The request conflicts with the current state (e.g. an Idempotency-Key reused "
         "with another body, a stale version).",
    413: "The body (or a file in it) is larger than the limit.",
    416: "The requested byte range lies outside the content.",
    429: "A rate limit was reached; see Retry-After.",
    503: "A dependency (database, storage) is not available.",
}

Schema = type[BaseModel] | Mapping[str, Any]


#: a file in the body
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
_MEDIA = {"content": {m: {"schema": BINARY} for m in ("video/mp4", "image/webp")}}
#: what the content routes answer besides the whole file
CONTENT_EXTRA: dict[int, dict[str, Any]] = {
    206: {"description": "The byte range the Range header asked for.", **_MEDIA},
    304: {"description": "Not modified: the If-None-Match ETag still holds."},
    307: {"description": "Redirect to a presigned URL of the media store (only with "
                         "REELGATE_STORAGE_REDIRECT)."},
}


def _content(schema: Schema, media: str | tuple[str, ...]) -> dict[str, Any]:
    kinds = (media,) if isinstance(media, str) else media
    if kinds == ("application/json",) and not isinstance(schema, Mapping):
        return {"model": schema}
    body = dict(schema) if isinstance(schema, Mapping) else _inline(schema)
    return {"content": {m: {"schema": body} for m in kinds}}


def answers(ok: Schema | None, *errors: int, status: int = 200,
            media: str | tuple[str, ...] = "application/json", description: str = "Success.",
            more: Mapping[int, Mapping[str, Any]] | None = None) -> dict[int | str, Any]:
    """``responses=`` for a route: ``ok`` at ``status`` in ``media``, each of ``errors`` in
    the error envelope, and ``more`` (other statuses, as FastAPI takes them) verbatim."""
    unknown = set(errors) - set(ERROR_STATUSES)
    if unknown:
        raise ValueError(f"not an error status the API sends: {sorted(unknown)}")
    out: dict[int | str, Any] = {}
    if ok is not None:
        out[status] = {"description": description, **_content(ok, media)}
    for code in errors:
        out[code] = {"description": ERROR_STATUSES[code], "model": ErrorBody}
    for code, spec in (more or {}).items():
        out[code] = dict(spec)
    return out


#: the header of routes that make a job (a repeat answers with the first job)
IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "The same key with the same body within a day returns the same job; "
                   "with another body it is a 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255}}


def request_body(json: type[BaseModel] | None = None, multipart: type[BaseModel] | None = None,
                 *, required: bool = True, other: Mapping[str, Any] | None = None,
                 headers: tuple[Mapping[str, Any], ...] = ()) -> dict[str, Any]:
    """``openapi_extra=`` for a route that reads its body itself (JSON and/or multipart),
    with the ``headers`` it reads by hand too."""
    content: dict[str, Any] = {}
    if json is not None:
        content["application/json"] = {"schema": _inline(json)}
    if multipart is not None:
        content["multipart/form-data"] = {"schema": _inline(multipart)}
    content.update(other or {})
    extra: dict[str, Any] = {"requestBody": {"required": required, "content": content}}
    if headers:
        extra["parameters"] = [dict(h) for h in headers]
    return extra


def _inline(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with its ``$defs`` written in place (bodies are small)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _correct(doc: dict[str, Any]) -> None:
    """No 422 anywhere; a 400 wherever a request carries input (any path or query
    parameter may hold what the server refuses before the route runs, e.g. a NUL)."""
    bad_request = {"description": ERROR_STATUSES[400], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            if not isinstance(op, dict):
                continue
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            takes_input = "requestBody" in op or any(
                p.get("in") in ("path", "query") for p in op.get("parameters", []))
            if takes_input and "400" not in responses:
                responses["400"] = bad_request
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def install(app: FastAPI) -> None:
    """Serve the corrected document at ``app.openapi_url`` (when it is on)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, routes=app.routes,
                              description=app.description)
            _correct(doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

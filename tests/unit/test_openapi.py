"""The OpenAPI document says what each route does, and nothing it does not.

Walks every operation of the document the app serves and the route behind it. A route
added without ``responses=answers(...)`` (and ``openapi_extra=request_body(...)`` when
it reads its body itself) fails here; so does one that documents a status its traits
cannot produce: a 401 without a credential check, a 429 without a rate limit, a 404
without anything named in the request, a 413 on a route that takes no body, a 422 at all.
``tests/integration/test_fuzz.py`` checks the other way round, on a live server: every
answer's status and body are the documented ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from reelgate.api.admin.auth import require_admin
from reelgate.api.app import create_app
from reelgate.api.auth import principal
from reelgate.api.limits import limit_creates, limit_polls
from reelgate.api.openapi import ERROR_STATUSES
from reelgate.config import Settings

SUCCESS = {200, 201, 204, 206, 304, 307}
BODY_METHODS = {"POST", "PUT", "PATCH"}
#: handlers that read their body by hand, whatever FastAPI can see of them
READS_BODY = ("read_fields(", "read_body(", "request.body()", "request.form(")


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(Settings())


@pytest.fixture(scope="module")
def doc(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


Operation = tuple[str, Any, dict[str, Any]]


def _api_routes(app: FastAPI) -> list[Any]:
    """Every API route with what its routers added (prefix, dependencies): FastAPI
    resolves included routers lazily, so ``app.routes`` alone shows only the top."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # an older FastAPI copies included routes flat into app.routes
        return [r for r in app.routes if isinstance(r, APIRoute)]
    return [c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]


def _operations(app: FastAPI, doc: dict[str, Any]) -> Iterator[Operation]:
    for route in _api_routes(app):
        if not route.include_in_schema:
            continue
        for method in route.methods:
            op = doc["paths"][route.path_format][method.lower()]
            yield f"{method} {route.path_format}", route, op


def _calls(dependant: Dependant) -> set[Any]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _reads_body(route: Any) -> bool:
    return route.body_field is not None or any(
        marker in inspect.getsource(route.endpoint) for marker in READS_BODY)


def _schema_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [media.get("schema", {}) for media in response.get("content", {}).values()]


def test_operation_ids_are_unique(app: FastAPI, doc: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(app, doc)]
    assert len(ids) >= 45, "the walk did not reach the routers' routes"
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_every_operation_documents_real_answers(app: FastAPI, doc: dict[str, Any]) -> None:
    problems: list[str] = []
    for name, route, op in _operations(app, doc):
        statuses = {int(s) for s in op["responses"]}
        if not statuses <= SUCCESS | set(ERROR_STATUSES):
            problems.append(f"{name}: statuses the API never sends: "
                            f"{sorted(statuses - SUCCESS - set(ERROR_STATUSES))}")
        ok = [s for s in statuses if s in (200, 201)]
        if not ok or any(not all(_schema_of(op["responses"][str(s)])) for s in ok):
            problems.append(f"{name}: no response schema for its success")
        for status in statuses - SUCCESS:
            schemas = _schema_of(op["responses"][str(status)])
            if status == 503 and route.path_format == "/readyz":
                continue  # readiness answers 503 with its own checks
            if schemas != [{"$ref": "#/components/schemas/ErrorBody"}]:
                problems.append(f"{name}: {status} is not in the error envelope")
    assert not problems, "\n".join(problems)


def test_statuses_follow_from_what_each_route_does(app: FastAPI, doc: dict[str, Any]) -> None:
    problems: list[str] = []
    for name, route, op in _operations(app, doc):
        statuses = {int(s) for s in op["responses"]}
        calls = _calls(route.dependant)
        method = name.split()[0]
        authenticated = bool(calls & {principal, require_admin})
        limited = bool(calls & {limit_creates, limit_polls})
        has_input = bool(route.dependant.path_params or route.dependant.query_params
                         or _reads_body(route))
        rules = {
            "401 exactly when a credential is checked": (401 in statuses) == authenticated,
            "429 exactly when rate-limited": (429 in statuses) == limited,
            "404 only when the request names something": 404 not in statuses or has_input,
            "413 exactly when it reads a body": (413 in statuses) == (
                _reads_body(route) and method in BODY_METHODS),
            "400 only with some input": 400 not in statuses or has_input,
            "400 whenever it takes input": not has_input or 400 in statuses,
            "201 only on POST and PUT": 201 not in statuses or method in {"POST", "PUT"},
            "409 only on writes": 409 not in statuses or method != "GET",
            "206/304/416 only on reads of content": not (statuses & {206, 304, 416})
            or method in {"GET", "HEAD"},
        }
        problems += [f"{name}: {rule}" for rule, holds in rules.items() if not holds]
    assert not problems, "\n".join(problems)


def test_no_422_and_no_validation_schemas(doc: dict[str, Any]) -> None:
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "422" not in op["responses"], f"{method} {path}"
    assert not {"HTTPValidationError", "ValidationError"} & set(doc["components"]["schemas"])


def test_every_body_is_documented(app: FastAPI, doc: dict[str, Any]) -> None:
    problems = []
    for name, route, op in _operations(app, doc):
        if not _reads_body(route):
            continue
        content = op.get("requestBody", {}).get("content", {})
        if not content or not all(media.get("schema") for media in content.values()):
            problems.append(name)
    assert not problems, f"routes reading a body that is not documented: {problems}"


def test_creates_document_json_and_multipart(doc: dict[str, Any]) -> None:
    create = doc["paths"]["/v1/videos"]["post"]
    content = create["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    form = content["multipart/form-data"]["schema"]
    assert form["required"] == ["prompt"]
    reference = form["properties"]["input_reference"]
    assert {"type": "string", "format": "binary"} in reference["anyOf"]
    assert content["application/json"]["schema"]["additionalProperties"] is False
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])


def test_content_get_and_head_are_two_operations(doc: dict[str, Any]) -> None:
    content = doc["paths"]["/v1/videos/{video_id}/content"]
    assert content["get"]["operationId"] != content["head"]["operationId"]
    assert set(content["get"]["responses"]["200"]["content"]) == {"video/mp4", "image/webp"}

"""The pieces of the metrics that need no server: error kinds, route templates, the
per-request bookkeeping."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from reelgate.api.app import create_app
from reelgate.api.request_metrics import UNMATCHED, Templates
from reelgate.config import Settings
from reelgate.metrics.http import HttpMetrics, RequestObserver, SharedHttpMetrics
from reelgate.metrics.upstream import KINDS, error_kind
from reelgate.providers.base import ErrorKind, UpstreamError
from reelgate.providers.failures import upstream_error


def _response(status: int, body: object = None) -> httpx.Response:
    return httpx.Response(status, json=body or {"error": {"message": "no"}},
                          request=httpx.Request("POST", "http://up/v1/videos"))


@pytest.mark.parametrize(("failure", "creates", "kind"), [
    (httpx.ConnectError("refused"), True, "connection"),
    (httpx.ReadTimeout("slow"), False, "timeout"),
    (httpx.ReadTimeout("slow"), True, "timeout"),  # ambiguous for the job, a timeout here
    (httpx.ConnectTimeout("slow"), True, "timeout"),
    (httpx.RemoteProtocolError("dropped"), True, "connection"),
    (_response(500), True, "http_5xx"),
    (_response(504), True, "http_5xx"),
    (_response(408), False, "timeout"),
    (_response(400), True, "http_4xx"),
    (_response(422), True, "http_4xx"),
    (_response(429), True, "rate_limited"),
    (_response(401), True, "auth"),
    (_response(404), False, "not_found"),
])
def test_each_failure_has_one_kind(failure: httpx.Response | httpx.HTTPError, creates: bool,
                                   kind: str) -> None:
    assert error_kind(upstream_error(failure, creates=creates)) == kind


def test_kinds_providers_name_themselves() -> None:
    blocked = UpstreamError(ErrorKind.REJECTED, "unsafe", status_code=400,
                            code="moderation_blocked")
    assert error_kind(blocked) == "moderation"
    assert error_kind(UpstreamError(ErrorKind.PROTOCOL, "not json")) == "protocol"
    assert error_kind(UpstreamError(ErrorKind.UNAVAILABLE, "gpu host gone")) == "connection"
    assert {error_kind(UpstreamError(k, "x")) for k in ErrorKind} <= set(KINDS)


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "some-id", template)


def test_every_route_of_the_app_has_its_full_template(tmp_path: Path) -> None:
    app = create_app(Settings.from_env({"REELGATE_DATA_DIR": str(tmp_path)}))
    templates = Templates(app.router.routes)
    seen = 0
    for ctx in iter_route_contexts(app.router.routes):
        route = ctx.original_route
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            got = templates.of(route, "/ignored", method)
            assert got == ctx.path_format, (got, ctx.path_format)
            # the same template when the route is found by its path (before routing)
            assert templates.of(None, _concrete(got), method) == got, got
            seen += 1
    assert seen > 50
    admin = templates.match("/admin/api/channels/c1/keys/k1", "DELETE")
    assert admin == "/admin/api/channels/{ref}/keys/{key_ref}"
    assert templates.match("/admin/static/app.css", "GET") == "/admin/static/{path}"
    assert templates.match("/v1/videos/quote", "POST") == "/v1/videos/quote"
    assert templates.match("/v1/videos/video_1", "OPTIONS") == "/v1/videos/{video_id}"
    assert templates.match("/wp-login.php", "GET") == UNMATCHED


def _stream(http: RequestObserver) -> None:
    for seconds in (0.003, 0.003, 0.0009, 0.001, 0.07, 75.0):
        http.observe("/v1/videos/{video_id}", "GET", 200, seconds)
    http.observe("/v1/videos/{video_id}", "GET", 404, 0.002)
    http.observe("/v1/videos", "PROPFIND", 405, 0.001)
    http.observe("/v1/videos", "MKCOL", 405, 0.001)


def test_observe_reuses_its_series_and_folds_odd_methods() -> None:
    registry = CollectorRegistry()
    http = HttpMetrics()
    registry.register(http)
    _stream(http)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    video = {"route": "/v1/videos/{video_id}", "method": "GET"}
    assert sample("reelgate_http_requests_total", **video, status="200") == 6
    assert sample("reelgate_http_requests_total", route="/v1/videos", method="other",
                  status="405") == 2
    latency = "reelgate_http_request_duration_seconds"
    assert sample(f"{latency}_count", **video) == 7  # both statuses
    assert sample(f"{latency}_bucket", **video, le="0.001") == 2  # a bound is inclusive
    assert sample(f"{latency}_bucket", **video, le="0.0025") == 3
    assert sample(f"{latency}_bucket", **video, le="0.005") == 5
    assert sample(f"{latency}_bucket", **video, le="60.0") == 6
    assert sample(f"{latency}_bucket", **video, le="+Inf") == 7
    assert sample(f"{latency}_sum", **video) == pytest.approx(75.0799)


def test_one_process_and_shared_processes_expose_the_same_numbers() -> None:
    fast, shared = HttpMetrics(), SharedHttpMetrics()
    _stream(fast)
    _stream(shared)

    def samples(families: Iterable[Metric]) -> dict[tuple[str, frozenset[tuple[str, str]]],
                                                    float]:
        return {(s.name, frozenset(s.labels.items())): s.value for f in families
                for s in f.samples if not s.name.endswith("_created")}

    ours = samples(fast.collect())
    theirs = samples([*shared.requests.collect(), *shared.latency.collect()])
    assert ours.keys() == theirs.keys()
    for key, v in ours.items():
        assert v == pytest.approx(theirs[key]), key

"""HTTP requests by route template, method and status, with their latency, and the
process's own metrics, on a live gateway after real requests."""

from __future__ import annotations

import httpx

from tests.metrics.conftest import Workload, scrape_until
from tests.metrics.scrape import Samples, series, value

REQUESTS = "reelgate_http_requests_total"
LATENCY = "reelgate_http_request_duration_seconds"


def test_requests_are_counted_by_route_template_method_and_status(workload: Workload) -> None:
    for (route, method, status), n in workload.sent.items():
        grew = value(workload.after, REQUESTS, route=route, method=method, status=status) - \
            value(workload.before, REQUESTS, route=route, method=method, status=status)
        assert grew == n, (route, method, status, grew)
    # the SDK's polling of the two jobs
    assert value(workload.after, REQUESTS, route="/v1/videos/{video_id}", method="GET",
                 status="200") >= 2
    routes = {s["route"] for s in series(workload.after, REQUESTS)}
    raw = (workload.completed_id, workload.failed_id, "video_nothere")
    assert not any(i in r for r in routes for i in raw), routes  # never a raw path


def _latency_agrees_with_counts(got: Samples) -> None:
    pairs = {(s["route"], s["method"]) for s in series(got, REQUESTS)}
    assert pairs
    for route, method in pairs:
        answered = sum(v for (n, lbl), v in got.items() if n == REQUESTS
                       and dict(lbl)["route"] == route and dict(lbl)["method"] == method)
        count = value(got, f"{LATENCY}_count", route=route, method=method)
        if route == "/metrics":  # the scrape being answered is counted after it renders
            assert count in (answered, answered - 1)
            continue
        assert count == answered, (route, method)
        buckets = sorted((float(lbl["le"]), v) for (n, lb), v in got.items()
                         if n == f"{LATENCY}_bucket"
                         and (lbl := dict(lb))["route"] == route and lbl["method"] == method)
        assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
        assert buckets[-1] == (float("inf"), count)
        assert value(got, f"{LATENCY}_sum", route=route, method=method) > 0


def test_latency_histograms_count_every_answered_request(workload: Workload) -> None:
    _latency_agrees_with_counts(workload.after)


def test_requests_outside_the_api_routes(workload: Workload) -> None:
    gw = workload.gw
    token = (gw.data_dir / "admin.token").read_text().strip()
    answers = [
        (httpx.get(f"{gw.root_url}/no/such/path"), "unmatched", "GET", "404"),
        (httpx.request("OPTIONS", f"{gw.base_url}/videos/video_x"), "/v1/videos/{video_id}",
         "OPTIONS", "204"),
        (httpx.get(f"{gw.root_url}/admin/static/app.css"), "/admin/static/{path}", "GET",
         "200"),
        (httpx.get(f"{gw.root_url}/admin/api/channels",
                   headers={"authorization": f"Bearer {token}"}), "/admin/api/channels",
         "GET", "200"),
        (httpx.delete(f"{gw.base_url}/models"), "/v1/models", "DELETE", "405"),
    ]
    for resp, _, _, status in answers:
        assert str(resp.status_code) == status, resp.request.url

    def counted(got: Samples) -> bool:
        return all(value(got, REQUESTS, route=r, method=m, status=s) >= 1
                   for _, r, m, s in answers)

    got = scrape_until(gw.root_url, counted)
    _latency_agrees_with_counts(got)


def test_process_metrics_of_the_serving_process(workload: Workload) -> None:
    got = workload.after
    assert value(got, "process_cpu_seconds_total") > 0
    assert value(got, "process_resident_memory_bytes") > 10 << 20
    assert value(got, "process_open_fds") > 0
    assert any(n == "python_info" for n, _ in got)
    assert any(n == "python_gc_collections_total" for n, _ in got)

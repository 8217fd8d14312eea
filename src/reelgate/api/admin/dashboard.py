"""``/admin/api/dashboard``: the admin dashboard's numbers as JSON.

The same :class:`~reelgate.reporting.dashboard.Dashboard` the page charts, so a
script and the page never disagree. Money in micro-USD (and as a USD string).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from reelgate.api.deps import GatewayDep
from reelgate.api.openapi import answers
from reelgate.billing.money import usd_str
from reelgate.reporting.dashboard import Dashboard
from reelgate.reporting.windows import DURATION_STEPS

__all__ = ["dashboard_object", "router"]

router = APIRouter(prefix="/dashboard", tags=["admin: dashboard"])


class Buckets(BaseModel):
    bucket_seconds: int
    #: where each bucket begins, unix seconds
    edges: list[float]


class JobsChart(Buckets):
    #: final state -> jobs that reached it in each bucket
    series: dict[str, list[int]]


class Durations(BaseModel):
    model: str
    jobs: int
    p50_seconds: float
    p95_seconds: float
    mean_seconds: float


class ChannelRow(BaseModel):
    channel: str
    finished: int
    failed: int
    refunds: int
    refunded_micros: int
    refunded_usd: str
    failure_rate: float
    refund_rate: float


class TenantSpend(BaseModel):
    tenant: str
    micros: list[int]
    total_micros: int
    total_usd: str


class SpendChart(Buckets):
    tenants: list[TenantSpend]


class QueueChart(Buckets):
    #: the most jobs waiting for an upstream at any sampled instant in each bucket
    peak: list[int]
    sample_seconds: int
    waiting_now: int
    by_state_now: dict[str, int]


class DashboardBody(BaseModel):
    object: Literal["admin.dashboard"]
    window: str
    start: float
    end: float
    jobs: JobsChart
    durations: list[Durations]
    #: [below seconds (null: no bound), bucket width]: the percentiles' resolution
    duration_resolution: list[tuple[float | None, int]]
    channels: list[ChannelRow]
    spend: SpendChart
    queue: QueueChart


def dashboard_object(d: Dashboard) -> dict[str, Any]:
    w = d.window
    return {
        "object": "admin.dashboard", "window": w.name, "start": d.jobs_edges[0], "end": d.end,
        "jobs": {"bucket_seconds": w.step, "edges": d.jobs_edges,
                 "series": {s.name: s.values for s in d.jobs}},
        "durations": [{"model": m.model, "jobs": m.jobs, "p50_seconds": m.p50_seconds,
                       "p95_seconds": m.p95_seconds, "mean_seconds": m.mean_seconds}
                      for m in d.durations],
        "duration_resolution": [[None if below == float("inf") else below, step]
                                for below, step in DURATION_STEPS],
        "channels": [{"channel": c.channel, "finished": c.finished, "failed": c.failed,
                      "refunds": c.refunds, "refunded_micros": c.refunded_micros,
                      "refunded_usd": usd_str(c.refunded_micros),
                      "failure_rate": c.failure_rate, "refund_rate": c.refund_rate}
                     for c in d.channels],
        "spend": {"bucket_seconds": w.spend_step, "edges": d.spend_edges,
                  "tenants": [{"tenant": s.name, "micros": s.values,
                               "total_micros": sum(s.values),
                               "total_usd": usd_str(sum(s.values))} for s in d.spend]},
        "queue": {"bucket_seconds": w.queue_step, "edges": d.queue.edges,
                  "peak": d.queue.peak, "sample_seconds": d.queue.sample_seconds,
                  "waiting_now": d.queue.waiting,
                  "by_state_now": d.queue.by_state},
    }


@router.get("", responses=answers(DashboardBody, 400, 401))
async def get_dashboard(
    gw: GatewayDep, window: Annotated[str, Query(max_length=10)] = "24h",
) -> JSONResponse:
    """Jobs by final state, time to complete per model, failure and refund rates per
    channel, spend per tenant and queue depth, over the last 24h, 7d or 30d."""
    return JSONResponse(dashboard_object(await gw.dashboard.build(window)))

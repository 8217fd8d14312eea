"""The dashboard page: the numbers of ``/admin/api/dashboard`` drawn as SVG charts.

One service call (:meth:`DashboardService.build`) gives every number; this module only
turns them into charts (:mod:`.charts`) with labels and units a person reads.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup

from reelgate.api.admin_ui import charts
from reelgate.api.admin_ui.charts import Part
from reelgate.api.admin_ui.session import require_session
from reelgate.api.admin_ui.views import page
from reelgate.api.deps import gateway
from reelgate.billing.money import MICROS, format_usd
from reelgate.reporting.dashboard import Dashboard
from reelgate.reporting.windows import DURATION_STEPS, WINDOWS

__all__ = ["context", "render_charts", "router"]

router = APIRouter(prefix="/admin")

COMPLETED, FAILED, REFUNDED = "#138a4c", "#c53030", "#d69e2e"
P50, P95, QUEUE = "#8b7dff", "#3b2fc9", "#2b6cb0"
#: tenants in the spend chart, then "others" in grey
TENANT_COLORS = ("#5b4bff", "#0f9d8a", "#e07a1f", "#c2417a", "#2b6cb0", "#7a9a01",
                 "#8e44ad", "#b7791f", "#9aa1ad")
#: tick steps for durations: whole seconds, minutes, hours
DURATION_TICKS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                  21600, 43200, 86400)
#: viewBox width of the charts that span the page (the others are charts.WIDTH)
WIDE = 1300
WINDOW_LABELS = {"24h": "24 hours", "7d": "7 days", "30d": "30 days"}


def seconds(value: float) -> str:
    """``45s``, ``2m 05s``, ``3h 10m``: a duration as people say it."""
    s = round(value)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        m, rest = divmod(s, 60)
        return f"{m}m" if not rest else f"{m}m {rest:02d}s"
    h, rest = divmod(s, 3600)
    return f"{h}h" if rest < 60 else f"{h}h {rest // 60:02d}m"


def count(value: float) -> str:
    v = float(value)
    if v >= 1_000_000:
        return f"{v / 1_000_000:.3g}M"
    if v >= 10_000:
        return f"{v / 1000:.3g}k"
    return f"{v:,.0f}" if v == int(v) else f"{v:.2g}"


def usd(micros: float) -> str:
    """Axis money: ``$0``, ``$12.50``, ``$1.2k``."""
    v = micros / MICROS
    if abs(v) >= 1000:
        return f"${v / 1000:.3g}k"
    return f"${v:,.0f}" if v == int(v) else f"${v:,.2f}"


def percent(rate: float) -> str:
    return f"{rate * 100:.0f}%" if rate in (0, 1) or rate * 100 >= 10 else f"{rate * 100:.1f}%"


def _stamp(t: float, step: int) -> str:
    when = dt.datetime.fromtimestamp(t, dt.UTC)
    if step < 6 * 3600:
        return when.strftime("%H:%M")
    if step < 86400:
        return when.strftime("%a %Hh")
    return when.strftime("%b %d")


def per_label(step: int) -> str:
    return {900: "15 min", 3600: "hour", 6 * 3600: "6 hours", 86400: "day"}.get(
        step, f"{step} s")


def _round_edges(edges: list[float], unit: int, most: int) -> list[int]:
    """Indices of at most ``most`` edges on whole multiples of ``unit`` (hours, days),
    the same ones on every load."""
    whole = [i for i, e in enumerate(edges) if e % unit == 0]
    every = max(1, math.ceil(len(whole) / most))
    return [i for i in whole if (edges[i] // unit) % every == 0]


def render_charts(d: Dashboard) -> dict[str, Markup]:
    w = d.window
    colors = {"completed": COMPLETED, "failed": FAILED}
    jobs = charts.stacked_bars(
        f"Jobs by final state per {per_label(w.step)}", [_stamp(t, w.step) for t in d.jobs_edges],
        [Part(s.name, colors[s.name], s.values) for s in d.jobs],
        unit=f"jobs per {per_label(w.step)}", fmt=count, kind="jobs", empty="no job ended here",
        width=WIDE, label_at=_round_edges(d.jobs_edges, w.step, WIDE // 80))
    spend = charts.stacked_bars(
        f"Spend per tenant per {per_label(w.spend_step)}",
        [_stamp(t, w.spend_step) for t in d.spend_edges],
        [Part(s.name, TENANT_COLORS[min(i, len(TENANT_COLORS) - 1)]
              if not s.name.endswith(" others") else TENANT_COLORS[-1], s.values)
         for i, s in enumerate(d.spend)],
        unit=f"USD per {per_label(w.spend_step)}", fmt=usd, kind="spend", empty="nothing spent",
        width=WIDE, label_at=_round_edges(d.spend_edges, w.spend_step, WIDE // 80))
    models = [m.model for m in d.durations]
    durations = charts.hbars(
        "Time to complete per model (create to completed)", models,
        [Part("p50", P50, [m.p50_seconds for m in d.durations]),
         Part("p95", P95, [m.p95_seconds for m in d.durations])],
        fmt=seconds, kind="durations", steps=DURATION_TICKS, empty="no job completed here")
    names = [c.channel for c in d.channels]
    rates = charts.hbars(
        "Failure and refund rate per channel", names,
        [Part("failed", FAILED, [c.failure_rate for c in d.channels]),
         Part("refunded", REFUNDED, [c.refund_rate for c in d.channels])],
        fmt=percent, kind="channels", top=max([0.25, *(c.failure_rate for c in d.channels),
                                               *(c.refund_rate for c in d.channels)]),
        empty="no job ended here")
    q = d.queue
    queue = charts.stacked_bars(
        f"Most jobs waiting per {per_label(w.queue_step)}",
        [_stamp(t, max(w.queue_step, w.step)) for t in q.edges],
        [Part("most waiting (queued or submitting, not taken upstream yet)", QUEUE, q.peak)],
        unit="jobs waiting", fmt=count, kind="queue", empty="nothing waited", width=WIDE,
        label_at=_round_edges(q.edges, w.step, WIDE // 80))
    return {"jobs": jobs, "spend": spend, "durations": durations, "channels": rates,
            "queue": queue}


def summary(d: Dashboard) -> dict[str, Any]:
    by = {s.name: sum(s.values) for s in d.jobs}
    ended = sum(by.values())
    return {"ended": ended, "completed": by.get("completed", 0), "failed": by.get("failed", 0),
            "failure_rate": by.get("failed", 0) / ended if ended else 0.0,
            "spent": format_usd(sum(sum(s.values) for s in d.spend)),
            "waiting": d.queue.waiting,
            "running": sum(n for s, n in d.queue.by_state.items()
                           if s in ("in_progress", "downloading"))}


def context(board: Dashboard) -> dict[str, Any]:
    """What ``dashboard.html`` needs besides the session."""
    resolution = ", ".join(
        f"{step} s below {seconds(below)}" if below != float("inf") else f"{seconds(step)} above"
        for below, step in DURATION_STEPS)
    return {"board": board, "charts": render_charts(board), "summary": summary(board),
            "windows": list(WINDOWS), "window_labels": WINDOW_LABELS, "seconds": seconds,
            "percent": percent, "resolution": resolution, "per": per_label}


@router.get("/dashboard")
async def dashboard_page(request: Request,
                         window: Annotated[str, Query(max_length=10)] = "24h") -> Response:
    session = require_session(request)
    board = await gateway(request).dashboard.build(window)
    return page(request, "dashboard.html", session, section="dashboard", **context(board))

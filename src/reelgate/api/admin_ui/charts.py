"""A small SVG chart renderer for the admin dashboard: stacked bars and grouped
horizontal bars, each with axes, grid lines and a legend.

Rendered on the server into the page, so there is no chart library, no script and
nothing fetched from elsewhere. Colours are SVG presentation attributes and text
styles come from ``app.css``: the Content-Security-Policy forbids inline styles.
Every mark carries a ``<title>`` (the browser shows it on hover) with its exact value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Part", "hbars", "nice_ticks", "stacked_bars"]

Fmt = Callable[[float], str]

WIDTH = 640
LEFT, RIGHT, TOP = 64, 14, 40  # plot margins in a vertical chart
HEIGHT, BOTTOM = 280, 244  # total height; the plot's baseline
AXIS, GRID, INK, MUTED = "#9aa1ad", "#eceef2", "#1d2330", "#6b7280"


@dataclass(frozen=True)
class Part:
    """One series: its name in the legend, its colour, a value per bucket or category."""

    name: str
    color: str
    values: Sequence[float]


def nice_ticks(top: float, steps: Sequence[float] = (), most: int = 5,
               least: float = 0) -> list[float]:
    """Round tick values from 0 to at least ``top``: multiples of 1, 2, 2.5 or 5 x 10^k
    (no finer than ``least``, e.g. 1 for counts), or of the first of ``steps`` (e.g.
    human durations) that needs at most ``most``."""
    top = max(top, least, 1e-9)
    step = next((s for s in steps if top / s <= most), 0.0)
    if not step:
        raw = top / most
        mag = 10 ** math.floor(math.log10(raw))
        step = max(least, next(m * mag for m in (1, 2, 2.5, 5, 10)
                               if m * mag >= raw * (1 - 1e-9)))
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _text(x: float, y: float, body: str, cls: str = "tick", anchor: str = "middle",
          extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}"{extra}>'
            f"{escape(body)}</text>")


def _svg(height: float, label: str, body: list[str], kind: str, width: int = WIDTH) -> Markup:
    return Markup(
        f'<svg class="chart" data-chart="{escape(kind)}" viewBox="0 0 {width} {height:.0f}" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>")


def _legend(parts: Sequence[Part], x: float = LEFT, y: float = 16) -> list[str]:
    out = []
    for p in parts:
        out.append(f'<g class="legend-item" data-series="{escape(p.name)}">'
                   f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="11" height="11" rx="2" '
                   f'fill="{p.color}"/>{_text(x + 16, y, p.name, "legend", "start")}</g>')
        x += 16 + 7 * len(p.name) + 18
    return out


def _y_axis(ticks: list[float], fmt: Fmt, unit: str, width: int) -> list[str]:
    top = ticks[-1] or 1
    out = [_text(14, (TOP + BOTTOM) / 2, unit, "unit", "middle",
                 f' transform="rotate(-90 14 {(TOP + BOTTOM) / 2:.1f})"')]
    for t in ticks:
        y = BOTTOM - (BOTTOM - TOP) * t / top
        out.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="{GRID if t else AXIS}"/>')
        out.append(_text(LEFT - 6, y + 4, fmt(t), anchor="end"))
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP - 4}" y2="{BOTTOM}" stroke="{AXIS}"/>')
    return out


def _x_labels(labels: Sequence[str], xs: Sequence[float], most: int = 8,
              at: Sequence[int] | None = None) -> list[str]:
    """The labels at indices ``at``, else at most ``most`` evenly spaced ones."""
    if at is None:
        at = range(0, len(labels), max(1, math.ceil(len(labels) / most)))
    out = []
    for i in at:
        out.append(f'<line x1="{xs[i]:.1f}" x2="{xs[i]:.1f}" y1="{BOTTOM}" y2="{BOTTOM + 4}" '
                   f'stroke="{AXIS}"/>')
        out.append(_text(xs[i], BOTTOM + 17, labels[i]))
    return out


def _empty(body: list[str], message: str, y: float, width: int = WIDTH) -> None:
    body.append(_text((LEFT + width - RIGHT) / 2, y, message, "empty"))


def stacked_bars(label: str, buckets: Sequence[str], parts: Sequence[Part], *, unit: str,
                 fmt: Fmt, kind: str, empty: str = "nothing in this window",
                 width: int = WIDTH, label_at: Sequence[int] | None = None) -> Markup:
    """A bar per bucket, its parts stacked bottom up in ``parts`` order; the x axis
    labels the bars ``label_at`` (default: evenly spaced)."""
    n = len(buckets)
    totals = [sum(p.values[i] for p in parts) for i in range(n)]
    ticks = nice_ticks(max(totals, default=0), least=1)  # counts, micro-USD: integers
    top = ticks[-1] or 1
    slot = (width - RIGHT - LEFT) / max(n, 1)
    bar = max(1.0, slot * 0.76)
    body = [*_legend(parts), *_y_axis(ticks, fmt, unit, width)]
    for i in range(n):
        base = float(BOTTOM)
        for p in parts:
            v = p.values[i]
            if v <= 0:
                continue
            h = (BOTTOM - TOP) * v / top
            base -= h
            body.append(f'<rect class="mark" data-series="{escape(p.name)}" '
                        f'x="{LEFT + slot * i + (slot - bar) / 2:.1f}" y="{base:.1f}" '
                        f'width="{bar:.1f}" height="{h:.1f}" fill="{p.color}">'
                        f"<title>{escape(buckets[i])}: {escape(p.name)} {escape(fmt(v))}"
                        "</title></rect>")
    body += _x_labels(buckets, [LEFT + slot * (i + 0.5) for i in range(n)], width // 80,
                      label_at)
    if not any(totals):
        _empty(body, empty, (TOP + BOTTOM) / 2, width)
    return _svg(HEIGHT, label, body, kind, width)


def hbars(label: str, categories: Sequence[str], parts: Sequence[Part], *, fmt: Fmt,
          kind: str, steps: Sequence[float] = (), top: float | None = None,
          empty: str = "nothing in this window") -> Markup:
    """For each category a group of horizontal bars, one per part, each labelled with
    its value; ``top`` fixes the scale's end (e.g. 1 for rates)."""
    left, bar, gap, head = 150, 13, 3, 34
    block = len(parts) * (bar + gap) + 14
    height = head + max(len(categories), 1) * block + 30
    base = head + max(len(categories), 1) * block
    values = [v for p in parts for v in p.values]
    ticks = nice_ticks(top if top is not None else max(values, default=0), steps)
    end = ticks[-1] or 1
    plot = WIDTH - RIGHT - left - 56  # room for the value labels

    def px(v: float) -> float:
        return left + plot * v / end

    body = _legend(parts, left)
    for t in ticks:
        body.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{head - 6}" y2="{base}" '
                    f'stroke="{GRID if t else AXIS}"/>')
        body.append(_text(px(t), base + 16, fmt(t)))
    body.append(f'<line x1="{left}" x2="{px(end):.1f}" y1="{base}" y2="{base}" '
                f'stroke="{AXIS}"/>')
    for i, name in enumerate(categories):
        y0 = head + i * block
        short = name if len(name) <= 20 else name[:19] + "\u2026"
        mid = y0 + len(parts) * (bar + gap) / 2 + 2
        body.append(_text(left - 8, mid, short, "category", "end"))
        for j, p in enumerate(parts):
            v = p.values[i]
            y = y0 + j * (bar + gap)
            body.append(f'<rect class="mark" data-series="{escape(p.name)}" x="{left}" '
                        f'y="{y:.1f}" width="{max(px(v) - left, 1.0):.1f}" height="{bar}" '
                        f'fill="{p.color}"><title>{escape(name)}: {escape(p.name)} '
                        f"{escape(fmt(v))}</title></rect>")
            body.append(_text(max(px(v), left + 1) + 5, y + bar - 2, fmt(v), "value", "start"))
    if not categories:
        _empty(body, empty, head + block / 2)
    return _svg(height, label, body, kind)

"""Reading a live ``/metrics``: samples by (name, labels), families by name."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def text(url: str, token: str | None = None) -> str:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    resp = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return resp.text


def samples(body: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def scrape(url: str, token: str | None = None) -> Samples:
    return samples(text(url, token))


def value(got: Samples, name: str, **labels: str) -> float:
    return got.get((name, frozenset(labels.items())), 0.0)


def total(got: Samples, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, lbl), v in got.items() if n == name and want <= lbl)


def series(got: Samples, name: str) -> list[Mapping[str, str]]:
    return [dict(lbl) for (n, lbl), _ in got.items() if n == name]

"""Just enough PromQL to say which metrics and labels an expression reads.

Grafana's variables (``$__rate_interval``, ``$job``) are dropped with the range and
subquery brackets and the string literals; what remains is names, numbers,
operators and parentheses. A name followed by ``(`` is a function; aggregation
operators, ``by``/``without``/``on``/``ignoring``/``group_*`` and their label lists,
``bool``, ``offset`` and the set operators are keywords; every other name is a metric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Reads", "reads"]

_AGGREGATIONS = frozenset({"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                           "count_values", "bottomk", "topk", "quantile", "limitk",
                           "limit_ratio"})
_KEYWORDS = _AGGREGATIONS | {"by", "without", "on", "ignoring", "group_left", "group_right",
                             "bool", "offset", "and", "or", "unless", "atan2"}
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*\"(?:[^\"\\]|\\.)*\"")
_TOKEN = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_:][A-Za-z0-9_:]*|\S")


@dataclass
class Reads:
    metrics: set[str] = field(default_factory=set)
    #: metric -> label names its selectors match on
    matched: dict[str, set[str]] = field(default_factory=dict)
    #: label names of by/without/on/ignoring/group_* clauses
    grouped: set[str] = field(default_factory=set)


def reads(expr: str) -> Reads:
    out = Reads()
    text = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    for m in _GROUPING.finditer(text):
        out.grouped.update(n.strip() for n in m.group(2).split(",") if n.strip())
    text = _GROUPING.sub(" ", text)
    for m in _SELECTOR.finditer(text):
        labels = {lm.group(1) for lm in _MATCHER.finditer(m.group(2))}
        name = m.group(1)
        if name is None:  # {__name__="..."}
            name = next(iter(re.findall(r'__name__\s*=\s*"([^"]+)"', m.group(2))), None)
        if name is not None and name not in _KEYWORDS:
            out.matched.setdefault(name, set()).update(labels - {"__name__"})
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\"(?:[^\"\\]|\\.)*\"", " ", text)
    tokens = _TOKEN.findall(text)
    for i, tok in enumerate(tokens):
        if not re.match(r"[A-Za-z_:]", tok) or tok in _KEYWORDS:
            continue
        if i + 1 < len(tokens) and tokens[i + 1] == "(":
            continue  # a function
        out.metrics.add(tok)
    out.metrics.update(out.matched)
    return out

"""Channel settings written as text, read the same way by the CLI and the admin UI.

A model map is a list of ``MODEL`` or ``MODEL=UPSTREAM`` (``*`` serves every model);
options are ``KEY=VALUE`` pairs whose values read as true/false, a number, else the
text itself. Both edges accept exactly this, so a setting typed into the console means
what it means after ``reelgate channels add``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reelgate.routing.rules import invalid

__all__ = ["format_models", "format_options", "option_value", "parse_models", "parse_options"]


def option_value(raw: str) -> Any:
    """``true``/``false``, then an int, then a float, else the string itself."""
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def parse_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (blank ones skipped); a pair without ``=`` is a 400."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if not pair.strip():
            continue
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise invalid(f"An option is KEY=VALUE, got {pair.strip()!r}.", "options")
        out[key.strip()] = option_value(raw.strip())
    return out


def parse_models(specs: Iterable[str]) -> dict[str, str] | None:
    """``MODEL`` or ``MODEL=UPSTREAM`` each; None when there is none (the defaults)."""
    out: dict[str, str] = {}
    for spec in specs:
        if not spec.strip():
            continue
        public, _, upstream = spec.partition("=")
        out[public.strip()] = upstream.strip() or public.strip()
    return out or None


def format_models(models: Mapping[str, str]) -> list[str]:
    """The inverse of :func:`parse_models`: one line per model."""
    return [k if k == v else f"{k}={v}" for k, v in models.items()]


def format_options(options: Mapping[str, Any]) -> list[str]:
    """Scalar options as ``KEY=VALUE`` lines (structured ones, e.g. workflows, are not
    text and are left to their own commands)."""
    out = []
    for key, value in options.items():
        if isinstance(value, bool):
            out.append(f"{key}={'true' if value else 'false'}")
        elif isinstance(value, int | float | str):
            out.append(f"{key}={value}")
    return out

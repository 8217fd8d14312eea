"""A small TOML writer for catalog exports (the standard library reads TOML, not writes).

It covers what a catalog holds: strings, integers, booleans, lists of those, tables
and lists of tables. Small flat tables are written inline (``upstream = { veo = "…" }``),
others as ``[a.b]`` sections, lists of tables as ``[[a.b]]``; ``tomllib.loads`` of the
output gives back exactly the input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["dumps"]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}
_INLINE_MAX = 3
_INLINE_WIDTH = 80


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(key: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"TOML keys are strings, got {key!r}")
    return key if _BARE.fullmatch(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML: {value!r}")


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(v, Mapping) for v in value)


def _inline(key: str, value: Mapping[str, Any], sections: frozenset[str]) -> bool:
    if key in sections or len(value) > _INLINE_MAX:
        return False
    if any(isinstance(v, Mapping) or _is_table_list(v) for v in value.values()):
        return False
    return len(_value(value)) <= _INLINE_WIDTH


def _section(path: list[str], table: Mapping[str, Any], out: list[str], header: str,
             sections: frozenset[str]) -> None:
    nested_keys = {k for k, v in table.items() if _is_table_list(v) or (
        isinstance(v, Mapping) and v and not _inline(k, v, sections))}
    plain = [(k, v) for k, v in table.items() if k not in nested_keys]
    nested = [(k, v) for k, v in table.items() if k in nested_keys]
    if header and (plain or not nested or header.startswith("[[")):
        out.extend(["", header])
    out.extend(f"{_key(k)} = {_value(v)}" for k, v in plain)
    for key, value in nested:
        sub = [*path, _key(key)]
        if isinstance(value, Mapping):
            _section(sub, value, out, f"[{'.'.join(sub)}]", sections)
        else:
            for item in value:
                _section(sub, item, out, f"[[{'.'.join(sub)}]]", sections)


def dumps(document: Mapping[str, Any], *, comment: str = "",
          sections: frozenset[str] = frozenset()) -> str:
    """``document`` as TOML text, with ``comment`` lines (if any) at the top; tables
    under a key in ``sections`` are always written as ``[a.b]`` sections."""
    out = [f"# {line}".rstrip() for line in comment.splitlines()]
    _section([], document, out, "", sections)
    return "\n".join(out).lstrip("\n") + "\n"

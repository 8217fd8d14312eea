"""Bracketed form keys (``video[id]``, ``input_reference[image_url]``, ``characters[][id]``)
read back into the nested values a JSON body would hold.

The official Python SDK sends every create, edit, extension and character as multipart,
flattening objects and lists the way query strings do (``array_format="brackets"``):
``{"video": {"id": "v"}}`` becomes ``video[id]=v``, ``[{"id": "a"}, {"id": "b"}]`` under
``characters`` becomes ``characters[][id]=a`` then ``characters[][id]=b``. Folding
them here lets one parser validate both encodings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from reelgate.errors import InvalidRequest

__all__ = ["fold"]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
#: deeper than anything the API takes; a key nested past this is refused
_MAX_DEPTH = 3


def _duplicate(name: str) -> InvalidRequest:
    return InvalidRequest(f"Parameter '{name}' was given more than once.", param=name,
                          code="duplicate_parameter")


def _path(key: str) -> list[str]:
    match = _KEY.match(key)
    if match is None:
        raise InvalidRequest(f"Malformed parameter name {key!r}.", param=None,
                             code="invalid_parameter_name")
    parts = [match.group(1), *_PART.findall(match.group(2))]
    lists = [i for i, part in enumerate(parts) if i and part == ""]
    if len(parts) > _MAX_DEPTH + 1 or any(i != 1 for i in lists):
        raise InvalidRequest(f"Unsupported parameter name {key!r}.", param=match.group(1),
                             code="invalid_parameter_name")
    return parts


def _put(target: dict[str, Any], parts: list[str], value: Any, key: str) -> None:
    head, rest = parts[0], parts[1:]
    if not rest:
        if head in target:
            raise _duplicate(key)
        target[head] = value
        return
    if rest[0] == "":  # a list: name[] = scalar, name[][sub] = objects
        items = target.setdefault(head, [])
        if not isinstance(items, list):
            raise _duplicate(head)
        if len(rest) == 1:
            items.append(value)
            return
        sub = rest[1:]
        if not items or not isinstance(items[-1], dict) or _has(items[-1], sub):
            items.append({})
        if not isinstance(items[-1], dict):
            raise _duplicate(head)
        _put(items[-1], sub, value, key)
        return
    child = target.setdefault(head, {})
    if not isinstance(child, dict):
        raise _duplicate(head)
    _put(child, rest, value, key)


def _has(obj: dict[str, Any], parts: list[str]) -> bool:
    node: Any = obj
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def fold(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """The fields of a form as nested values; a key given twice is a 400."""
    out: dict[str, Any] = {}
    for key, value in items:
        _put(out, _path(key), value, key)
    return out

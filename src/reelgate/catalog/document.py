"""The catalog's file format, one model at a time: a plain mapping ⇄ a validated ModelSpec.

The shipped defaults (``defaults.toml``), ``reelgate models import|export`` and the
operator rows in the database all use this one shape, so what an operator exports
can be kept in git and imported again unchanged. Prices are decimal strings of USD
per second (``"0.10"``), read exactly into micro-USD; durations are strings, or a
range ``"3-15"``. Every error names the field that is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reelgate.catalog.spec import (
    Billing,
    ModelSpec,
    ModelState,
    Operation,
    PairRule,
    usd,
    usd_text,
)
from reelgate.errors import InvalidRequest

__all__ = ["FIELDS", "CatalogError", "doc_from_spec", "merge", "spec_from_doc"]

_SIZE = re.compile(r"^[1-9]\d{1,4}x[1-9]\d{1,4}$")
_SECONDS = re.compile(r"^[1-9]\d{0,2}$")
_RANGE = re.compile(r"^([1-9]\d{0,2})-([1-9]\d{0,2})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,99}$")
#: every key a model may have, in the order export writes them
FIELDS = ("owned_by", "description", "quality", "state", "message", "successor",
          "operations", "seconds", "default_seconds", "default_size", "aliases", "upstream",
          "prices", "rules", "image_only_sizes", "billing", "max_render_seconds")
#: a render-billed job's reservation ceiling: a day of GPU time
_MAX_RENDER_SECONDS = 86_400


class CatalogError(InvalidRequest):
    """A catalog document or change that cannot be accepted; ``param`` is the field."""

    code = "invalid_catalog"


def _fail(where: str, message: str) -> CatalogError:
    return CatalogError(f"{where}: {message}", param=where)


def check_name(value: object, where: str, what: str = "a model name") -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise _fail(where, f"{value!r} is not {what} (letters, digits and ._:/@-, "
                           "up to 100 characters)")
    return value


def _text(doc: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise _fail(f"{where}.{key}", f"must be a string, got {value!r}")
    return value


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, f"must be a list of strings, got {value!r}")
    return list(value)


def _seconds(value: object, where: str) -> tuple[str, ...]:
    """``["4", "8"]``, ``[4, 8]`` or ``"3-15"``; each a whole number of seconds."""
    if isinstance(value, str):
        m = _RANGE.fullmatch(value)
        if m is None or int(m.group(1)) >= int(m.group(2)):
            raise _fail(where, f"{value!r} is not a range such as \"3-15\"")
        return tuple(str(s) for s in range(int(m.group(1)), int(m.group(2)) + 1))
    if not isinstance(value, list) or not value:
        raise _fail(where, f"must be a non-empty list of durations or a range, got {value!r}")
    out: list[str] = []
    for item in value:
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        if not isinstance(text, str) or not _SECONDS.fullmatch(text):
            raise _fail(where, f"{item!r} is not a whole number of seconds")
        if text in out:
            raise _fail(where, f"{text!r} is listed twice")
        out.append(text)
    return tuple(out)


def _prices(value: object, where: str) -> dict[str, int]:
    if not isinstance(value, Mapping) or not value:
        raise _fail(where, "must map at least one size (\"1280x720\") to a USD price per "
                           "second (\"0.10\")")
    out: dict[str, int] = {}
    for size, price in value.items():
        if not isinstance(size, str) or not _SIZE.fullmatch(size):
            raise _fail(where, f"{size!r} is not a size such as \"1280x720\"")
        try:
            out[size] = usd(price)
        except ValueError as exc:
            raise _fail(f"{where}.{size}", str(exc)) from None
    return out


def _rule(value: object, where: str, sizes: tuple[str, ...],
          seconds: tuple[str, ...]) -> PairRule:
    if not isinstance(value, Mapping):
        raise _fail(where, f"must be a table, got {value!r}")
    keys = set(value)
    if keys == {"when_sizes", "seconds"}:
        rule = PairRule(when_sizes=tuple(_strings(value["when_sizes"], f"{where}.when_sizes")),
                        seconds=_seconds(value["seconds"], f"{where}.seconds"))
    elif keys == {"when_seconds", "sizes"}:
        rule = PairRule(when_seconds=_seconds(value["when_seconds"], f"{where}.when_seconds"),
                        sizes=tuple(_strings(value["sizes"], f"{where}.sizes")))
    else:
        raise _fail(where, "a rule is {when_sizes = [...], seconds = [...]} or "
                           "{when_seconds = [...], sizes = [...]}")
    for size in (*rule.when_sizes, *rule.sizes):
        if size not in sizes:
            raise _fail(where, f"unknown size {size!r}; the model has {', '.join(sizes)}")
    for sec in (*rule.seconds, *rule.when_seconds):
        if sec not in seconds:
            raise _fail(where, f"unknown duration {sec!r}; the model has {', '.join(seconds)}")
    return rule


def _enum(value: object, where: str, kind: type[Any]) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise _fail(where, f"{value!r} is not one of {allowed}") from None


def spec_from_doc(model_id: str, doc: Mapping[str, Any]) -> ModelSpec:
    """A validated spec from one ``[models.ID]`` table; CatalogError on anything wrong."""
    where = f"models.{model_id}"
    check_name(model_id, where)
    if not isinstance(doc, Mapping):
        raise _fail(where, "must be a table")
    for key in doc:
        if key not in FIELDS:
            raise _fail(f"{where}.{key}", f"unknown field; a model has {', '.join(FIELDS)}")
    prices = _prices(doc.get("prices"), f"{where}.prices")
    sizes = tuple(prices)
    seconds = _seconds(doc.get("seconds"), f"{where}.seconds")
    rules = tuple(_rule(r, f"{where}.rules[{i}]", sizes, seconds)
                  for i, r in enumerate(_list(doc.get("rules", []), f"{where}.rules")))
    ops = _strings(doc.get("operations", ["create", "image_reference"]),
                   f"{where}.operations")
    operations = frozenset(_enum(op, f"{where}.operations", Operation) for op in ops)
    upstream = doc.get("upstream", {})
    if not isinstance(upstream, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in upstream.items()):
        raise _fail(f"{where}.upstream", "must map provider names to upstream model names")
    successor = doc.get("successor") or None
    if successor is not None:
        check_name(successor, f"{where}.successor")
    spec = ModelSpec(
        id=model_id, owned_by=_text(doc, "owned_by", where), quality=_text(
            doc, "quality", where, "standard"), prices=prices, seconds=seconds,
        default_size=_text(doc, "default_size", where, sizes[0]),
        default_seconds=str(doc.get("default_seconds", seconds[0])),
        operations=operations, description=_text(doc, "description", where),
        aliases=tuple(check_name(a, f"{where}.aliases", "an alias") for a in
                      _strings(doc.get("aliases", []), f"{where}.aliases")),
        rules=rules, upstream=dict(upstream),
        state=_enum(doc.get("state", "active"), f"{where}.state", ModelState),
        message=_text(doc, "message", where), successor=successor,
        image_only_sizes=_image_only(doc, where, sizes, operations),
        **_billing(doc, where))
    _check_renderable(spec, where)
    return spec


def _billing(doc: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``billing`` and, for ``render_seconds``, the ``max_render_seconds`` a create
    reserves (a price per GPU second needs a ceiling, or nothing could be reserved)."""
    billing = _enum(doc.get("billing", "video_seconds"), f"{where}.billing", Billing)
    cap = doc.get("max_render_seconds")
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool)
                            or not 1 <= cap <= _MAX_RENDER_SECONDS):
        raise _fail(f"{where}.max_render_seconds",
                    f"must be a whole number of seconds from 1 to {_MAX_RENDER_SECONDS}, "
                    f"got {cap!r}")
    if billing is Billing.RENDER_SECONDS and cap is None:
        raise _fail(f"{where}.max_render_seconds",
                    "is required with billing = \"render_seconds\": the GPU seconds a "
                    "create reserves, and the most one job is charged")
    return {"billing": billing, "max_render_seconds": cap}


def _image_only(doc: Mapping[str, Any], where: str, sizes: tuple[str, ...],
                operations: frozenset[Operation]) -> tuple[str, ...]:
    """Sizes that render only from an input image (all of them: image-to-video only)."""
    where = f"{where}.image_only_sizes"
    out = _strings(doc.get("image_only_sizes", []), where)
    for size in out:
        if size not in sizes:
            raise _fail(where, f"unknown size {size!r}; the model has {', '.join(sizes)}")
    if out and Operation.IMAGE_REFERENCE not in operations:
        raise _fail(where, "needs the image_reference operation")
    return tuple(s for s in sizes if s in out)


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(where, f"must be a list, got {value!r}")
    return value


def _check_renderable(spec: ModelSpec, where: str) -> None:
    if not spec.owned_by:
        raise _fail(f"{where}.owned_by", "is required (who makes the model)")
    if spec.default_size not in spec.prices:
        raise _fail(f"{where}.default_size", f"{spec.default_size!r} is not one of the "
                                             f"model's sizes ({', '.join(spec.sizes)})")
    if spec.default_seconds not in spec.seconds:
        raise _fail(f"{where}.default_seconds", f"{spec.default_seconds!r} is not one of the "
                                                f"model's durations ({', '.join(spec.seconds)})")
    pairs = spec.renderable()
    if not pairs:
        raise _fail(f"{where}.rules", "these rules leave nothing renderable")
    for size in spec.sizes:
        if not any(s == size for s, _ in pairs):
            raise _fail(f"{where}.rules", f"these rules leave no duration for {size}; "
                                          "remove its price or loosen the rules")
    if not spec.allows(spec.default_size, spec.default_seconds):
        raise _fail(f"{where}.default_seconds",
                    f"the defaults {spec.default_size} at {spec.default_seconds} seconds are "
                    "refused by the model's own rules")
    if spec.state is ModelState.RETIRED and not (spec.message or spec.successor):
        raise _fail(f"{where}.message", "a retired model needs a message or a successor")


def _seconds_out(seconds: tuple[str, ...]) -> str | list[str]:
    """A contiguous run of 3 or more is written as a range ("3-15"), else a list."""
    nums = [int(s) for s in seconds]
    if len(nums) >= 3 and nums == list(range(nums[0], nums[0] + len(nums))):
        return f"{nums[0]}-{nums[-1]}"
    return list(seconds)


def doc_from_spec(spec: ModelSpec) -> dict[str, Any]:
    """The full table for ``spec``: every field written, so importing it back is exact."""
    doc: dict[str, Any] = {
        "owned_by": spec.owned_by, "description": spec.description, "quality": spec.quality,
        "state": spec.state.value, "message": spec.message, "successor": spec.successor or "",
        "operations": [op.value for op in Operation if op in spec.operations],
        "seconds": _seconds_out(spec.seconds), "default_seconds": spec.default_seconds,
        "default_size": spec.default_size, "aliases": list(spec.aliases),
        "upstream": dict(spec.upstream),
        "prices": {size: usd_text(micros) for size, micros in spec.prices.items()},
        "rules": [_rule_out(r) for r in spec.rules],
        "image_only_sizes": list(spec.image_only_sizes),
        "billing": spec.billing.value,
    }
    if spec.max_render_seconds is not None:
        doc["max_render_seconds"] = spec.max_render_seconds
    return doc


def _rule_out(rule: PairRule) -> dict[str, Any]:
    if rule.when_sizes:
        return {"when_sizes": list(rule.when_sizes), "seconds": list(rule.seconds)}
    return {"when_seconds": list(rule.when_seconds), "sizes": list(rule.sizes)}


def merge(base: Mapping[str, Any] | None, patch: Mapping[str, Any]) -> dict[str, Any]:
    """An operator's fields over the shipped table; each field given replaces the default."""
    return {**(base or {}), **patch}

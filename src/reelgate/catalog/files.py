"""Catalog files: the shipped ``defaults.toml`` and what import/export read and write."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from reelgate.catalog.document import CatalogError, doc_from_spec, spec_from_doc
from reelgate.catalog.spec import ModelSpec
from reelgate.catalog.toml_out import dumps

__all__ = ["FORMAT", "catalog_text", "default_docs", "default_specs", "parse_catalog_text"]

FORMAT = 1
_HEADER = ("reelgate model catalog (format 1); see `reelgate models --help` and the README.\n"
           "Prices are USD per rendered second, exact decimal strings.")


def parse_catalog_text(text: str) -> dict[str, dict[str, Any]]:
    """The ``[models.ID]`` tables of a catalog file, each checked on its own."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"not a TOML file: {exc}", param="file") from None
    if data.get("format", FORMAT) != FORMAT:
        raise CatalogError(f"format: this reelgate reads format {FORMAT}, the file says "
                           f"{data.get('format')!r}", param="format")
    unknown = set(data) - {"format", "models"}
    if unknown:
        raise CatalogError(f"unknown top-level key(s) {', '.join(sorted(unknown))}; a catalog "
                           "file has `format` and [models.ID] tables", param="file")
    models = data.get("models", {})
    if not isinstance(models, Mapping) or not models:
        raise CatalogError("the file has no [models.ID] tables", param="models")
    for model_id, doc in models.items():
        spec_from_doc(model_id, doc)
    return {k: dict(v) for k, v in models.items()}


def catalog_text(specs: list[ModelSpec]) -> str:
    """A catalog file holding ``specs``, every field written out."""
    return dumps({"format": FORMAT, "models": {s.id: doc_from_spec(s) for s in specs}},
                 comment=_HEADER, sections=frozenset({"prices"}))


@cache
def _defaults_text() -> str:
    return resources.files("reelgate.catalog").joinpath("defaults.toml").read_text("utf-8")


def default_docs() -> dict[str, dict[str, Any]]:
    """The shipped tables by model id (a fresh copy each call)."""
    return parse_catalog_text(_defaults_text())


def default_specs() -> list[ModelSpec]:
    return [spec_from_doc(k, v) for k, v in default_docs().items()]

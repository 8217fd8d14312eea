"""The model catalog as data: shipped defaults in ``defaults.toml``, operator changes in
the database merged over them, one validated snapshot that the validator, the pricer
and ``GET /v1/models`` read.

``CATALOG`` is the shipped defaults alone (for tools and tests that have no database);
a running gateway holds a :class:`LiveCatalog` that follows operator changes.
"""

from __future__ import annotations

from reelgate.catalog.document import CatalogError, doc_from_spec, spec_from_doc
from reelgate.catalog.files import catalog_text, default_specs, parse_catalog_text
from reelgate.catalog.index import Catalog, Resolution
from reelgate.catalog.spec import (
    EXTENSION_SECONDS,
    MAX_EXTENSIONS,
    MAX_TOTAL_SECONDS,
    ModelSpec,
    ModelState,
    Operation,
    PairRule,
    Refusal,
    usd,
    usd_text,
)

__all__ = [
    "CATALOG",
    "EXTENSION_SECONDS",
    "MAX_EXTENSIONS",
    "MAX_TOTAL_SECONDS",
    "Catalog",
    "CatalogError",
    "ModelSpec",
    "ModelState",
    "Operation",
    "PairRule",
    "Refusal",
    "Resolution",
    "catalog_text",
    "default_specs",
    "doc_from_spec",
    "parse_catalog_text",
    "spec_from_doc",
    "usd",
    "usd_text",
]

CATALOG = Catalog(default_specs())

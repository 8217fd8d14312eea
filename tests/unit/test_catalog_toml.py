"""The TOML writer behind `reelgate models export`: whatever it writes, tomllib reads back."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelgate.catalog import CATALOG, catalog_text, parse_catalog_text, spec_from_doc
from reelgate.catalog.toml_out import dumps

keys = st.text(min_size=1, max_size=12)
scalars = st.one_of(st.text(max_size=20), st.integers(-(2**63), 2**63 - 1), st.booleans())
values = st.recursive(
    st.one_of(scalars, st.lists(scalars, max_size=4)),
    lambda inner: st.one_of(st.dictionaries(keys, inner, max_size=4),
                            st.lists(st.dictionaries(keys, inner, min_size=1, max_size=3),
                                     min_size=1, max_size=3)),
    max_leaves=12)
documents = st.dictionaries(keys, values, max_size=6)


@settings(max_examples=150, deadline=None)
@given(documents)
def test_round_trip_of_any_document(doc: dict[str, Any]) -> None:
    assert tomllib.loads(dumps(doc, sections=frozenset({"prices"}))) == doc


def test_escapes_and_quoted_keys() -> None:
    doc = {"a b": 'say "hi"\\\n\t\x00\x7f é', "1280x720": "0.10", "": 1, "k\n": {"x": 1}}
    text = dumps(doc)
    assert '"a b" = ' in text and "1280x720 = " in text and '"" = 1' in text
    assert tomllib.loads(text) == doc


def test_sections_inline_and_table_lists() -> None:
    text = dumps({"m": {"upstream": {"veo": "v"}, "prices": {"1x1": "1"},
                        "rules": [{"when_sizes": ["1x1"], "seconds": ["8"]}], "none": []}},
                 sections=frozenset({"prices"}))
    assert 'upstream = { veo = "v" }' in text
    assert "[m.prices]" in text and "[[m.rules]]" in text and "none = []" in text


@pytest.mark.parametrize("bad", [1.5, None, {1: "x"}, b"bytes"])
def test_refuses_what_it_cannot_write(bad: Any) -> None:
    with pytest.raises(TypeError):
        dumps({"k": bad})


def test_catalog_export_reads_back_as_the_same_models() -> None:
    text = catalog_text(list(CATALOG))
    docs = parse_catalog_text(text)
    assert [spec_from_doc(k, v) for k, v in docs.items()] == list(CATALOG)
    assert catalog_text([spec_from_doc(k, v) for k, v in docs.items()]) == text

"""Catalog documents, rules, aliases and retirement: what is accepted and what each refusal says."""

from __future__ import annotations

from typing import Any

import pytest

from reelgate.catalog import (
    CATALOG,
    Catalog,
    CatalogError,
    ModelState,
    Refusal,
    Resolution,
    spec_from_doc,
    usd,
)
from reelgate.errors import InvalidRequest
from reelgate.jobs.requests import parse_create
from reelgate.media.images import ReferenceImage


def doc(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"owned_by": "acme", "seconds": ["4", "8"],
                            "prices": {"1280x720": "0.10", "1920x1080": "0.20"}}
    return {**base, **changes}


def test_every_shipped_model_renders_its_defaults() -> None:
    assert {m.id for m in CATALOG} >= {"sora-2", "sora-2-pro", "veo-3.1", "seedance-1.0-pro"}
    for spec in CATALOG:
        assert spec.allows(spec.default_size, spec.default_seconds), spec.id
        assert all(isinstance(p, int) and p > 0 for p in spec.prices.values())


def test_veo_1080p_only_at_8_seconds() -> None:
    veo = CATALOG.get("veo-3.1")
    assert veo is not None
    assert veo.refusal("1920x1080", "8") is None and veo.refusal("1080x1920", "8") is None
    refused = veo.refusal("1920x1080", "4")
    assert refused == Refusal("size", "unsupported_combination",
                              "1920x1080 is only available at 8 seconds for veo-3.1.",
                              "veo-3.1.rules[0]: 1920x1080 or 1080x1920 only at 8 seconds")
    assert veo.refusal("1280x720", "4") is None
    assert ("1920x1080", "6") not in veo.renderable()


def test_parse_create_applies_rules_with_param_and_code() -> None:
    fields = {"prompt": "p", "model": "veo-3.1", "size": "1920x1080", "seconds": "8"}
    assert parse_create(fields, None, CATALOG, max_prompt_chars=50).size == "1920x1080"
    with pytest.raises(InvalidRequest) as err:
        parse_create({**fields, "seconds": "4"}, None, CATALOG, max_prompt_chars=50)
    assert err.value.param == "size" and err.value.code == "unsupported_combination"
    assert err.value.message == "1920x1080 is only available at 8 seconds for veo-3.1."


def test_rules_in_the_other_direction() -> None:
    spec = spec_from_doc("m", doc(rules=[{"when_seconds": ["8"], "sizes": ["1280x720"]}]))
    refusal = spec.refusal("1920x1080", "8")
    assert refusal is not None and refusal.param == "seconds"
    assert refusal.message == "8 seconds is only available at 1280x720 for m."
    assert spec.renderable() == [("1280x720", "4"), ("1280x720", "8"), ("1920x1080", "4")]


def test_seconds_range_and_integers() -> None:
    spec = spec_from_doc("kling-like", doc(seconds="3-15", default_seconds="5"))
    assert spec.seconds == tuple(str(s) for s in range(3, 16))
    assert spec_from_doc("m", doc(seconds=[4, 8])).seconds == ("4", "8")


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"prices": {"1280x720": 0.1}}, "models.m.prices.1280x720", "decimal string"),
    ({"prices": {"1280x720": "0.1000001"}}, "models.m.prices.1280x720", "6 decimals"),
    ({"prices": {"1280x720": "-1"}}, "models.m.prices.1280x720", "6 decimals"),
    ({"prices": {"1280x720": "1e3"}}, "models.m.prices.1280x720", "6 decimals"),
    ({"prices": {"1280X720": "0.10"}}, "models.m.prices", "not a size"),
    ({"prices": {"1280x720\n": "0.10"}}, "models.m.prices", "not a size"),
    ({"prices": {"1280x720": "0.10\n"}}, "models.m.prices.1280x720", "6 decimals"),
    ({"prices": {}}, "models.m.prices", "at least one size"),
    ({"seconds": ["4", "4.5"]}, "models.m.seconds", "whole number"),
    ({"seconds": "8-4"}, "models.m.seconds", "range"),
    ({"rules": [{"when_sizes": ["640x480"], "seconds": ["8"]}]}, "models.m.rules[0]",
     "unknown size '640x480'"),
    ({"rules": [{"when_sizes": ["1280x720"], "seconds": ["6"]}]}, "models.m.rules[0]",
     "unknown duration '6'"),
    ({"rules": [{"when_sizes": ["1280x720"]}]}, "models.m.rules[0]", "a rule is"),
    ({"rules": [{"when_sizes": ["1280x720", "1920x1080"], "seconds": ["8"]},
                {"when_seconds": ["8"], "sizes": ["1920x1080"]}]}, "models.m.rules",
     "leave no duration for 1280x720"),
    ({"rules": [{"when_sizes": ["1280x720"], "seconds": ["8"]},
                {"when_sizes": ["1920x1080"], "seconds": ["4"]},
                {"when_seconds": ["4", "8"], "sizes": ["640x360"]}]}, "models.m.rules[2]",
     "unknown size"),
    ({"rules": [{"when_sizes": ["1280x720"], "seconds": ["8"]}]}, "models.m.default_seconds",
     "refused by the model's own rules"),
    ({"default_size": "640x360"}, "models.m.default_size", "not one of the model's sizes"),
    ({"state": "gone"}, "models.m.state", "not one of active, hidden, retired"),
    ({"state": "retired"}, "models.m.message", "needs a message or a successor"),
    ({"operations": ["create", "dance"]}, "models.m.operations", "not one of"),
    ({"colour": "red"}, "models.m.colour", "unknown field"),
    ({"owned_by": ""}, "models.m.owned_by", "required"),
])
def test_bad_documents_name_the_field(changes: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(CatalogError) as err:
        spec_from_doc("m", doc(**changes))
    assert err.value.param == field and words in err.value.message, err.value.message
    assert err.value.status == 400


def test_usd_is_exact() -> None:
    assert usd("0.10") == 100_000 and usd("0.7") == 700_000 and usd("12") == 12_000_000
    assert usd("0.000001") == 1
    for bad in ("", ".5", "1.", "$1", "1,5", "0.1234567", " -0.1", "0.10\n", " 1"):
        with pytest.raises(ValueError):
            usd(bad)


def _retired(successor: str | None, message: str = "Sora is gone.") -> Catalog:
    return Catalog([
        spec_from_doc("old", doc(state="retired", message=message, successor=successor or "",
                                 aliases=["old-2025"])),
        spec_from_doc("new", doc(seconds=["4"], prices={"1280x720": "0.30"})),
    ])


def test_alias_resolves_to_its_model() -> None:
    got = CATALOG.resolve("sora-2-2025-10-06")
    assert isinstance(got, Resolution) and got.spec.id == "sora-2" and got.notice is None
    params = parse_create({"prompt": "p", "model": "sora-2-pro-2025-10-06"}, None, CATALOG,
                          max_prompt_chars=9)
    assert params.model.id == "sora-2-pro" and params.requested_model is None


def test_retired_with_successor_redirects() -> None:
    catalog = _retired("new")
    got = catalog.resolve("old-2025")
    assert isinstance(got, Resolution) and got.spec.id == "new"
    assert got.redirected_from is not None and got.redirected_from.id == "old"
    assert got.notice == "old is retired; this job runs on new. Sora is gone."
    params = parse_create({"prompt": "p", "model": "old", "seconds": "4"}, None, catalog,
                          max_prompt_chars=9)
    assert (params.model.id, params.requested_model, params.notice) == \
        ("new", "old", got.notice)
    with pytest.raises(InvalidRequest) as err:  # the successor's own limits apply
        parse_create({"prompt": "p", "model": "old", "seconds": "8"}, None, catalog,
                     max_prompt_chars=9)
    assert err.value.param == "seconds" and "new supports '4'" in err.value.message


def test_retired_without_successor_is_refused() -> None:
    got = _retired(None).resolve("old")
    assert isinstance(got, Refusal)
    assert (got.param, got.code) == ("model", "model_retired")
    assert got.message == "The model 'old' has been retired. Sora is gone."
    assert [m.id for m in _retired(None).listed()] == ["old", "new"]


def test_catalog_wide_checks() -> None:
    new = spec_from_doc("new", doc())
    with pytest.raises(CatalogError, match="unknown model 'nowhere'"):
        Catalog([spec_from_doc("old", doc(state="retired", successor="nowhere")), new])
    with pytest.raises(CatalogError, match="go round in a circle"):
        Catalog([spec_from_doc("a", doc(state="retired", successor="b")),
                 spec_from_doc("b", doc(state="retired", successor="a"))])
    with pytest.raises(CatalogError, match="'new' already names new"):
        Catalog([new, spec_from_doc("x", doc(aliases=["new"]))])
    with pytest.raises(CatalogError, match="'snap' already names a"):
        Catalog([spec_from_doc("a", doc(aliases=["snap"])),
                 spec_from_doc("b", doc(aliases=["snap"]))])


def test_hidden_models_work_but_are_not_listed() -> None:
    catalog = Catalog([spec_from_doc("h", doc(state="hidden")), spec_from_doc("v", doc())])
    assert [m.id for m in catalog.listed()] == ["v"]
    assert isinstance(catalog.resolve("h"), Resolution)
    assert catalog.get("h") is not None and catalog.get("h").state is ModelState.HIDDEN  # type: ignore[union-attr]


def test_operations_gate_image_reference() -> None:
    catalog = Catalog([spec_from_doc("t2v", doc(operations=["create"]))])
    ref = ReferenceImage(b"", "image/png", 1280, 720)
    with pytest.raises(InvalidRequest) as err:
        parse_create({"prompt": "p", "model": "t2v", "size": "1280x720"}, ref, catalog,
                     max_prompt_chars=9)
    assert (err.value.param, err.value.code) == ("input_reference", "unsupported_operation")


def test_catalog_upstream_names_are_the_default_channel_maps() -> None:
    """A channel added without --model gets the catalog's upstream names; the built-in
    map (the fallback) must agree with them for every provider the catalog names."""
    from reelgate.routing.rules import DEFAULT_MODELS

    providers = {p for spec in CATALOG for p in spec.upstream}
    assert providers >= {"openai", "veo", "seedance", "kling"}
    for provider in providers:
        assert CATALOG.upstream_models(provider) == dict(DEFAULT_MODELS.get(provider, {})), \
            provider
    catalog = Catalog([spec_from_doc("mine", doc(upstream={"kling": "kling-v9"}))])
    assert catalog.upstream_models("kling") == {"mine": "kling-v9"}

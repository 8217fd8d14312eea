"""Catalog rules about reference images: image-to-video-only models and sizes."""

from __future__ import annotations

import pytest

from reelgate.catalog import CATALOG, CatalogError, doc_from_spec, spec_from_doc
from reelgate.errors import InvalidRequest
from reelgate.jobs.requests import parse_create
from reelgate.media.images import ReferenceImage


def _create(model: str, size: str, reference: ReferenceImage | None = None) -> str:
    fields = {"prompt": "p", "model": model, "size": size, "seconds": "5"}
    return parse_create(fields, reference, CATALOG, max_prompt_chars=100).size


def _image(size: str) -> ReferenceImage:
    width, height = (int(v) for v in size.split("x"))
    return ReferenceImage(b"\x89PNG", "image/png", width, height)


def test_flags() -> None:
    turbo, gen45, sora = (CATALOG.get(m) for m in ("gen4_turbo", "gen4.5", "sora-2"))
    assert turbo is not None and turbo.requires_reference
    assert gen45 is not None and not gen45.requires_reference
    assert set(gen45.image_only_sizes) == {"1104x832", "832x1104", "960x960", "1584x672"}
    assert sora is not None and not sora.requires_reference and not sora.image_only_sizes


@pytest.mark.parametrize(("model", "size", "words"), [
    ("gen4_turbo", "1280x720", "gen4_turbo is an image-to-video model"),
    ("gen4.5", "960x960", "use 1280x720 or 720x1280 for text-to-video"),
])
def test_missing_reference_is_a_400(model: str, size: str, words: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        _create(model, size)
    assert (err.value.status, err.value.param, err.value.code) == (
        400, "input_reference", "missing_required_parameter")
    assert words in err.value.message


@pytest.mark.parametrize(("model", "size", "with_image"), [
    ("gen4_turbo", "1584x672", True),
    ("gen4.5", "960x960", True),
    ("gen4.5", "720x1280", False),
    ("gen4.5", "1280x720", True),
])
def test_accepted(model: str, size: str, with_image: bool) -> None:
    assert _create(model, size, _image(size) if with_image else None) == size


def test_the_field_round_trips_and_is_checked() -> None:
    turbo = CATALOG.get("gen4_turbo")
    assert turbo is not None
    doc = doc_from_spec(turbo)
    assert spec_from_doc("gen4_turbo", doc) == turbo
    with pytest.raises(CatalogError) as err:
        spec_from_doc("x", {**doc, "image_only_sizes": ["640x480"]})
    assert err.value.param == "models.x.image_only_sizes" and "unknown size" in err.value.message
    with pytest.raises(CatalogError) as err:
        spec_from_doc("x", {**doc, "operations": ["create"]})
    assert "image_reference" in err.value.message

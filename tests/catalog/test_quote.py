"""The quote equals what the create reserves, for every shipped model and size, and
writes nothing; its refusals are the create's, in the create's order."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from reelgate.bootstrap import Gateway
from reelgate.catalog import CATALOG, ModelSpec
from reelgate.errors import APIError
from reelgate.jobs.requests import CreateParams
from reelgate.store.tables import jobs, ledger
from tests.billing.support import make_principal, settings_for
from tests.support.server import TEST_DATABASE, create_database

USD = 1_000_000


@pytest.fixture(scope="module")
async def gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    url = create_database() if TEST_DATABASE == "postgres" else None
    gateway = await Gateway.start(settings_for(tmp_path_factory.mktemp("quote"), url))
    yield gateway
    await gateway.close()


def shapes() -> list[tuple[ModelSpec, str, str]]:
    """Every (model, size) with one duration it renders at (the default if allowed)."""
    out = []
    for spec in CATALOG:
        for size in spec.sizes:
            seconds = next(s for sz, s in [(size, spec.default_seconds), *spec.renderable()]
                           if sz == size and spec.allows(size, s))
            out.append((spec, size, seconds))
    return out


async def counts(gw: Gateway) -> tuple[int, int]:
    async with gw.db.read() as conn:
        return (int((await conn.execute(select(func.count()).select_from(jobs))).scalar_one()),
                int((await conn.execute(select(func.count()).select_from(ledger)))
                    .scalar_one()))


async def test_quote_is_the_reservation_for_every_shipped_model_and_size(gw: Gateway) -> None:
    p = await make_principal(gw, topup=10_000 * USD, ppm=1_250_000)  # x1.25 on every price
    async with gw.db.begin() as conn:  # and a global override on one size
        await gw.pricer.set_price(conn, "veo-3.1", "1920x1080", 432_109)
    cases = shapes()
    assert len(cases) >= 40 and {s.id for s, _, _ in cases} == set(CATALOG.ids())
    for spec, size, seconds in cases:
        params = CreateParams(spec, "quote me", size, int(seconds), None)
        before = await counts(gw)
        quote = await gw.quotes.quote(p, params)
        assert await counts(gw) == before, "a quote wrote something"
        assert quote.refusal is None and quote.balance_covers and quote.cap_covers
        job = await gw.videos.create(p, params)
        assert quote.amount_micros == job.price_micros > 0, (spec.id, size, seconds)
        async with gw.db.read() as conn:
            reserved = (await conn.execute(select(ledger.c.amount_micros).where(
                ledger.c.entry_key == f"reserve:{job.id}"))).scalar_one()
        assert -reserved == quote.amount_micros
    veo = await gw.quotes.quote(p, CreateParams(spec_of("veo-3.1"), "p", "1920x1080", 8, None))
    assert (veo.per_second_micros, veo.price_source, veo.amount_micros) == \
        (432_109, "global", 4_321_090)  # 432109 x 8 x 1.25


def spec_of(model: str) -> ModelSpec:
    spec = CATALOG.get(model)
    assert spec is not None
    return spec


async def _refusal(gw: Gateway, topup: int,
                   **limits: object) -> tuple[APIError | None, APIError | None]:
    """What the quote says, and what the create then does."""
    p = await make_principal(gw, topup=topup, **limits)
    params = CreateParams(spec_of("sora-2-pro"), "p", "1920x1080", 12, None)  # $8.40
    quoted = (await gw.quotes.quote(p, params)).refusal
    try:
        await gw.videos.create(p, params)
    except APIError as exc:
        return quoted, exc
    return quoted, None


@pytest.mark.parametrize(("topup", "limits", "code"), [
    (8 * USD, {}, "insufficient_quota"),
    (20 * USD, {"spend_cap_micros": 8 * USD}, "spend_cap_exceeded"),
    (20 * USD, {"allowed_models": ["sora-2"]}, "model_not_allowed"),
    (20 * USD, {"max_in_flight": 0}, "too_many_inflight_jobs"),
    (8_400_000, {}, None),  # exactly enough
])
async def test_quote_refuses_what_the_create_refuses(gw: Gateway, topup: int,
                                                     limits: dict[str, object],
                                                     code: str | None) -> None:
    quoted, created = await _refusal(gw, topup, **limits)
    assert (quoted.code if quoted else None) == code
    assert (created.code if created else None) == code
    if quoted is not None and created is not None:
        assert (quoted.status, quoted.param) == (created.status, created.param)

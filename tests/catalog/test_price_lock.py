"""A job settles at the price it reserved at, whatever the catalog says by then."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from reelgate.bootstrap import Gateway
from reelgate.catalog.service import CatalogService, ModelChange
from tests.billing.support import balance, complete, make_principal, params, settings_for
from tests.support.server import TEST_DATABASE, create_database

USD = 1_000_000


@pytest.fixture()
async def gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    url = create_database() if TEST_DATABASE == "postgres" else None
    gateway = await Gateway.start(settings_for(tmp_path_factory.mktemp("price-lock"), url))
    yield gateway
    await gateway.close()


async def test_catalog_price_change_between_create_and_settle(gw: Gateway) -> None:
    p = await make_principal(gw, topup=20 * USD)
    job = await gw.videos.create(p, params("veo-3.1", "1920x1080", 8))
    assert job.price_micros == 3_200_000  # 0.40 $/s x 8 s
    await CatalogService(gw.db, gw.catalog).update(  # type: ignore[arg-type]
        "veo-3.1", ModelChange(set_prices={"1920x1080": "0.90"}))
    later = await gw.videos.create(p, params("veo-3.1", "1920x1080", 8))
    assert later.price_micros == 7_200_000  # new jobs pay the new price at once
    await complete(gw, job, rendered_size="1080x1920", rendered_seconds=8.0)
    await complete(gw, later)
    assert await balance(gw, p.tenant_id) == 20 * USD - 3_200_000 - 7_200_000

"""TenantService and PriceService: the rules the CLI and the admin API share."""

from __future__ import annotations

import pytest

from reelgate.billing.ledger import Kind
from reelgate.bootstrap import Gateway
from reelgate.errors import ConflictError, InvalidRequest, NotFound
from reelgate.ids import new_id
from tests.billing.support import make_principal

USD = 1_000_000


async def test_an_opening_balance_makes_a_prepaid_tenant_with_a_ledger_entry(
        gw: Gateway) -> None:
    name = new_id("t", 6)
    tenant = await gw.tenants.create(name, prepaid=False, opening_micros=10 * USD,
                                     multiplier_ppm=800_000)
    assert (tenant.name, tenant.balance_micros, tenant.unlimited) == (name, 10 * USD, False)
    assert tenant.price_multiplier_ppm == 800_000
    same, check = await gw.tenants.verify(tenant.id)
    assert same == tenant and check.ok and check.ledger_micros == 10 * USD
    page = await gw.tenants.ledger(name)
    assert [(e.kind, e.amount_micros) for e in page.entries] == [(Kind.TOPUP, 10 * USD)]
    assert not page.has_more
    with pytest.raises(ConflictError):
        await gw.tenants.create(name, prepaid=True)


async def test_a_credit_is_idempotent_on_its_reference_and_returns_the_balance(
        gw: Gateway) -> None:
    tenant = await gw.tenants.create(new_id("t", 6), prepaid=True)
    first, after = await gw.tenants.credit(tenant.name, 5 * USD, reference="pay_1")
    again, still = await gw.tenants.credit(tenant.id, 5 * USD, reference="pay_1")
    assert first.created and not again.created
    assert after.balance_micros == still.balance_micros == 5 * USD
    with pytest.raises(ConflictError):
        await gw.tenants.credit(tenant.id, 6 * USD, reference="pay_1")
    _, corrected = await gw.tenants.credit(tenant.id, -2 * USD, kind=Kind.ADJUSTMENT,
                                           note="refund by hand")
    assert corrected.balance_micros == 3 * USD
    with pytest.raises(InvalidRequest):
        await gw.tenants.credit(tenant.id, -1, kind=Kind.TOPUP)
    with pytest.raises(NotFound):
        await gw.tenants.credit("no-such-tenant", USD)


async def test_update_changes_mode_and_multiplier(gw: Gateway) -> None:
    tenant = await gw.tenants.create(new_id("t", 6), prepaid=True)
    changed = await gw.tenants.update(tenant.name, prepaid=False, multiplier_ppm=1_500_000)
    assert (changed.unlimited, changed.price_multiplier_ppm) == (True, 1_500_000)
    with pytest.raises(InvalidRequest):
        await gw.tenants.update(tenant.name, multiplier_ppm=10_000 * USD)


async def test_a_key_sees_its_own_balance_spend_and_ledger(gw: Gateway) -> None:
    caller = await make_principal(gw, topup=7 * USD, spend_cap_micros=3 * USD)
    found = await gw.tenants.balance(caller)
    assert (found.tenant.id, found.tenant.balance_micros) == (caller.tenant_id, 7 * USD)
    assert (found.spent_micros, found.spend_cap_micros) == (0, 3 * USD)
    page = await gw.tenants.own_ledger(caller, limit=1)
    assert [e.amount_micros for e in page.entries] == [7 * USD]


async def test_prices_set_and_unset_per_tenant_over_global_over_catalog(gw: Gateway) -> None:
    tenant = await gw.tenants.create(new_id("t", 6), prepaid=False, multiplier_ppm=500_000)
    catalog = next(r for r in await gw.prices.table(tenant.name)
                   if (r.model, r.size) == ("sora-2", "1280x720"))
    assert catalog.source == "catalog"
    row = await gw.prices.set("sora-2", "1280x720", 200_000, tenant.name)
    assert (row.source, row.tenant_id, row.micros_per_second) == ("tenant", tenant.id, 200_000)
    assert (await gw.prices.paid(tenant.id))["sora-2"]["1280x720"] == 100_000  # x0.5
    assert any(o.tenant_name == tenant.name and o.micros_per_second == 200_000
               for o in await gw.prices.overrides())
    back = await gw.prices.unset("sora-2", "1280x720", tenant.name)
    assert back is not None and back.source == catalog.source
    assert back.micros_per_second == catalog.micros_per_second
    assert await gw.prices.unset("sora-2", "1280x720", tenant.name) is None
    with pytest.raises(InvalidRequest):
        await gw.prices.set("sora-2", "9999x9999", 1, None)
    with pytest.raises(NotFound):
        await gw.prices.table("no-such-tenant")

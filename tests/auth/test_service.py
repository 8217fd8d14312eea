"""KeyService: the one place keys are made, listed, revoked and authenticated."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from reelgate.auth import repository as auth_repo
from reelgate.auth.service import KeyLimits
from reelgate.bootstrap import Gateway
from reelgate.errors import ConflictError, NotFound
from reelgate.ids import new_id
from tests.billing.support import settings_for
from tests.support.server import TEST_DATABASE, create_database


async def test_a_created_key_authenticates_with_its_limits_and_tenant(gw: Gateway) -> None:
    tenant = new_id("t", 6)
    made = await gw.keys.create(tenant, "k", KeyLimits(allowed_models=["sora-2"],
                                                       max_in_flight=3, polls_per_minute=60),
                                create_tenant=True)
    caller = await gw.keys.authenticate(made.secret)
    assert caller is not None
    assert (caller.key_id, caller.tenant_name) == (made.id, tenant)
    assert caller.allowed_models == ("sora-2",)
    assert (caller.max_in_flight, caller.polls_per_minute, caller.spend_cap_micros) == \
        (3, 60, None)
    assert (await gw.tenants.get(tenant)).unlimited  # made on the fly: postpaid
    assert await gw.keys.authenticate(made.secret + "x") is None


async def test_revoking_stops_the_key_at_once_in_this_process(gw: Gateway) -> None:
    made = await gw.keys.create(new_id("t", 6), new_id("key", 6), create_tenant=True)
    assert await gw.keys.authenticate(made.secret) is not None  # now cached
    assert (await gw.keys.revoke(made.id)).id == made.id
    assert await gw.keys.authenticate(made.secret) is None
    with pytest.raises(NotFound) as gone:  # no live key matches any more
        await gw.keys.revoke(made.id)
    assert gone.value.code == "key_not_found"
    listed = {k.id: k for k in await gw.keys.list_all()}
    assert listed[made.id].revoked_at is not None


async def test_only_live_keys_can_be_acted_as(gw: Gateway) -> None:
    tenant = new_id("t", 6)
    live = await gw.keys.create(tenant, "live", create_tenant=True)
    expired = await gw.keys.create(tenant, "expired", KeyLimits(expires_at=time.time() - 1))
    revoked = await gw.keys.create(tenant, "revoked")
    await gw.keys.revoke(revoked.id)
    offered = {k.id for k in await gw.keys.live()}
    assert live.id in offered
    assert not offered & {expired.id, revoked.id}
    acting = await gw.keys.act_as(live.id)
    assert acting is not None and acting.tenant_name == tenant
    assert await gw.keys.act_as(expired.id) is None
    assert await gw.keys.act_as(revoked.id) is None
    assert await gw.keys.authenticate(expired.secret) is None


async def test_the_first_key_is_made_only_when_there_is_none(tmp_path: Path) -> None:
    url = create_database() if TEST_DATABASE == "postgres" else None
    fresh = await Gateway.start(settings_for(tmp_path, url))
    try:
        first = await fresh.keys.create_first("default", "default")
        assert first is not None
        assert await fresh.keys.create_first("default", "default") is None
        assert [k.id for k in await fresh.keys.list_all()] == [first.id]
        assert await fresh.keys.authenticate(first.secret) is not None
    finally:
        await fresh.close()


async def test_an_unknown_tenant_is_an_error_unless_asked_for(gw: Gateway) -> None:
    typo = new_id("t", 6)
    with pytest.raises(NotFound) as missing:
        await gw.keys.create(typo, "k")
    assert missing.value.code == "tenant_not_found" and typo in missing.value.message
    assert typo not in {t.name for t in await gw.tenants.list_all()}  # nothing was made
    made = await gw.keys.create(typo, "k", create_tenant=True)
    caller = await gw.keys.authenticate(made.secret)
    assert caller is not None and caller.tenant_name == typo
    by_id = await gw.keys.create(caller.tenant_id, "by-id")  # a tenant's id works too
    assert (await gw.keys.authenticate(by_id.secret)) is not None


async def test_key_names_are_unique_among_a_tenants_live_keys(gw: Gateway) -> None:
    tenant, other = new_id("t", 6), new_id("t", 6)
    first = await gw.keys.create(tenant, "prod", create_tenant=True)
    with pytest.raises(ConflictError) as taken:
        await gw.keys.create(tenant, "prod")
    assert taken.value.code == "key_name_taken"
    await gw.keys.create(other, "prod", create_tenant=True)  # another tenant may
    await gw.keys.revoke(first.id)
    again = await gw.keys.create(tenant, "prod")  # a revoked key frees its name
    assert (await gw.keys.authenticate(again.secret)) is not None


async def test_the_database_refuses_a_duplicate_name_when_creates_race(gw: Gateway) -> None:
    tenant = new_id("t", 6)
    await gw.tenants.create(tenant, prepaid=False)
    results = await asyncio.gather(*(gw.keys.create(tenant, "racer") for _ in range(4)),
                                   return_exceptions=True)
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(made) == 1, results
    assert all(isinstance(r, ConflictError) and r.code == "key_name_taken" for r in refused)
    names = [k.name for k in await gw.keys.live() if k.tenant_name == tenant]
    assert names == ["racer"]


async def test_revoke_by_name_says_when_it_is_ambiguous(gw: Gateway) -> None:
    name = new_id("shared", 6)
    a, b = new_id("t", 6), new_id("t", 6)
    in_a = await gw.keys.create(a, name, create_tenant=True)
    in_b = await gw.keys.create(b, name, create_tenant=True)
    with pytest.raises(ConflictError) as ambiguous:
        await gw.keys.revoke(name)
    assert ambiguous.value.code == "ambiguous_key"
    assert in_a.id in ambiguous.value.message and in_b.id in ambiguous.value.message
    assert await gw.keys.authenticate(in_a.secret) is not None  # nothing was revoked
    done = await gw.keys.revoke(name, tenant=b)
    assert (done.id, done.tenant_name) == (in_b.id, b)
    assert (await gw.keys.revoke(name)).id == in_a.id  # now only one matches
    with pytest.raises(NotFound):
        await gw.keys.revoke(name)


async def test_the_unique_index_holds_without_the_service(gw: Gateway) -> None:
    tenant = new_id("t", 6)
    async with gw.db.begin() as conn:
        record = await auth_repo.ensure_tenant(conn, tenant)
        await auth_repo.create_key(conn, record, "twice")
    with pytest.raises(IntegrityError):
        async with gw.db.begin() as conn:
            await auth_repo.create_key(conn, record, "twice")

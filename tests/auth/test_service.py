"""KeyService: the one place keys are made, listed, revoked and authenticated."""

from __future__ import annotations

import time
from pathlib import Path

from reelgate.auth.service import KeyLimits
from reelgate.bootstrap import Gateway
from reelgate.ids import new_id
from tests.billing.support import settings_for
from tests.support.server import TEST_DATABASE, create_database


async def test_a_created_key_authenticates_with_its_limits_and_tenant(gw: Gateway) -> None:
    tenant = new_id("t", 6)
    made = await gw.keys.create(tenant, "k", KeyLimits(allowed_models=["sora-2"],
                                                       max_in_flight=3, polls_per_minute=60))
    caller = await gw.keys.authenticate(made.secret)
    assert caller is not None
    assert (caller.key_id, caller.tenant_name) == (made.id, tenant)
    assert caller.allowed_models == ("sora-2",)
    assert (caller.max_in_flight, caller.polls_per_minute, caller.spend_cap_micros) == \
        (3, 60, None)
    assert (await gw.tenants.get(tenant)).unlimited  # made on the fly: postpaid
    assert await gw.keys.authenticate(made.secret + "x") is None


async def test_revoking_stops_the_key_at_once_in_this_process(gw: Gateway) -> None:
    made = await gw.keys.create(new_id("t", 6), new_id("key", 6))
    assert await gw.keys.authenticate(made.secret) is not None  # now cached
    assert await gw.keys.revoke(made.id)
    assert await gw.keys.authenticate(made.secret) is None
    assert not await gw.keys.revoke(made.id)  # no live key matches any more
    listed = {k.id: k for k in await gw.keys.list_all()}
    assert listed[made.id].revoked_at is not None


async def test_only_live_keys_can_be_acted_as(gw: Gateway) -> None:
    tenant = new_id("t", 6)
    live = await gw.keys.create(tenant, "live")
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

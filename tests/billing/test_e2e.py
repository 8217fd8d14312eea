"""The seed's billing rules end to end: a live `reelgate serve`, the official openai SDK.

Each test makes its own tenant (prepaid unless said otherwise) and key through the
CLI, drives videos with the SDK and reads the money back from ``/v1/billing``.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import MODERATION_WORD
from tests.integration.helpers import wait_done
from tests.support.server import GatewayProcess


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def admin(gw: GatewayProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    token = (gw.data_dir / "admin.token").read_text().strip()
    return httpx.request(method, f"{gw.root_url}/admin/api{path}", timeout=10,
                         headers={"Authorization": f"Bearer {token}"}, **kwargs)


def tenant(gw: GatewayProcess, **fields: Any) -> str:
    """Through the admin API (the CLI does the same; see test_cli_*)."""
    name = _name("bill")
    resp = admin(gw, "POST", "/tenants", json={"name": name, **fields})
    assert resp.status_code == 201, resp.text
    return name


def key(gw: GatewayProcess, tenant_name: str, *limits: str) -> str:
    out = gw.cli("keys", "create", "--name", _name("k"), "--tenant", tenant_name,
                 "--create-tenant", *limits)
    return out.strip().splitlines()[-1]


def sdk(gw: GatewayProcess, secret: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=secret, base_url=gw.base_url, max_retries=0)


def get(gw: GatewayProcess, secret: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{gw.base_url}{path}", params=params, timeout=10,
                     headers={"Authorization": f"Bearer {secret}"})


def balance(gw: GatewayProcess, secret: str) -> int:
    resp = get(gw, secret, "/billing/balance")
    assert resp.status_code == 200, resp.text
    return int(resp.json()["balance_micros"])


def entries(gw: GatewayProcess, secret: str, **params: Any) -> list[dict[str, Any]]:
    resp = get(gw, secret, "/billing/ledger", limit=100, **params)
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


@pytest.fixture(scope="module")
def paid(gateway: GatewayProcess) -> str:
    """A prepaid tenant with $20.00 and a key with no limits."""
    return key(gateway, tenant(gateway, balance="20"))


@pytest.fixture(scope="module")
def finished(gateway: GatewayProcess, paid: str) -> dict[str, Any]:
    """Seed rules 1 and 2, rendered side by side: their ids and the balance after."""
    client = sdk(gateway, paid)
    short = client.videos.create(model="sora-2", prompt="a red kite", seconds="8",
                                 size="1280x720")
    pro = client.videos.create(model="sora-2-pro", prompt="a city at dusk", seconds="12",
                               size="1920x1080")
    during = balance(gateway, paid)
    done = {v.id: wait_done(client, v.id, timeout=180) for v in (short, pro)}
    assert all(v.status == "completed" for v in done.values()), done
    return {"short": short.id, "pro": pro.id, "during": during,
            "after": balance(gateway, paid)}


def test_reservation_is_held_while_rendering(finished: dict[str, Any]) -> None:
    assert finished["during"] == 20_000_000 - 800_000 - 8_400_000


def test_8s_sora2_720p_costs_080(gateway: GatewayProcess, paid: str,
                                 finished: dict[str, Any]) -> None:
    rows = entries(gateway, paid, job_id=finished["short"])
    assert sorted((e["kind"], e["amount_micros"]) for e in rows) == \
        [("reserve", -800_000), ("settle", 0)]
    assert sum(e["amount_micros"] for e in rows) == -800_000
    assert rows[0]["amount_usd"] in ("0.00", "-0.80")


def test_12s_sora2_pro_1080p_costs_840(gateway: GatewayProcess, paid: str,
                                       finished: dict[str, Any]) -> None:
    rows = entries(gateway, paid, job_id=finished["pro"])
    assert sum(e["amount_micros"] for e in rows) == -8_400_000
    assert finished["after"] == 20_000_000 - 800_000 - 8_400_000


def test_100_polls_and_10_downloads_cost_nothing(gateway: GatewayProcess, paid: str,
                                                 finished: dict[str, Any]) -> None:
    client = sdk(gateway, paid)
    before, ledger_before = balance(gateway, paid), entries(gateway, paid)
    for _ in range(100):
        assert client.videos.retrieve(finished["short"]).status == "completed"
    for _ in range(10):
        assert client.videos.download_content(finished["short"]).read()[4:8] == b"ftyp"
    client.videos.list(limit=5)
    assert balance(gateway, paid) == before
    assert entries(gateway, paid) == ledger_before


def test_moderated_job_costs_nothing(gateway: GatewayProcess) -> None:
    secret = key(gateway, tenant(gateway, balance="5"))
    client = sdk(gateway, secret)
    video = client.videos.create(model="sora-2-pro", prompt=f"a {MODERATION_WORD} scene",
                                 seconds="8", size="1792x1024")
    done = wait_done(client, video.id)  # the local renderer refuses it at once
    assert done.status == "failed" and done.error is not None
    assert balance(gateway, secret) == 5_000_000
    rows = entries(gateway, secret, job_id=video.id)
    assert sorted((e["kind"], e["amount_micros"]) for e in rows) == \
        [("refund", 4_000_000), ("reserve", -4_000_000)]


def test_insufficient_balance_is_openai_insufficient_quota(gateway: GatewayProcess) -> None:
    secret = key(gateway, tenant(gateway, balance="0.50"))
    client = sdk(gateway, secret)
    with pytest.raises(openai.RateLimitError) as err:
        client.videos.create(model="sora-2", prompt="too dear", seconds="8", size="720x1280")
    assert err.value.status_code == 429
    assert err.value.code == "insufficient_quota" and err.value.type == "insufficient_quota"
    assert err.value.response.headers["x-should-retry"] == "false"
    assert client.videos.list().data == []
    assert balance(gateway, secret) == 500_000
    client.videos.delete(client.videos.create(model="sora-2", prompt="affordable",
                                              seconds="4", size="720x1280").id)
    assert balance(gateway, secret) == 500_000  # reserved 0.40, refunded on delete


def test_spend_cap_exceeded(gateway: GatewayProcess) -> None:
    secret = key(gateway, tenant(gateway), "--spend-cap", "1.00")
    client = sdk(gateway, secret)
    first = client.videos.create(model="sora-2", prompt="within", seconds="8",
                                 size="720x1280")
    with pytest.raises(openai.RateLimitError) as err:
        client.videos.create(model="sora-2", prompt="over", seconds="4", size="720x1280")
    assert err.value.status_code == 429 and err.value.code == "spend_cap_exceeded"
    body = get(gateway, secret, "/billing/balance").json()
    assert body["mode"] == "postpaid"
    assert body["key"]["spend_cap_micros"] == 1_000_000
    assert body["key"]["spent_micros"] == 800_000
    client.videos.delete(first.id)


def test_model_not_allowed(gateway: GatewayProcess) -> None:
    secret = key(gateway, tenant(gateway), "--models", "sora-2")
    client = sdk(gateway, secret)
    with pytest.raises(openai.PermissionDeniedError) as err:
        client.videos.create(model="sora-2-pro", prompt="not for you", seconds="4")
    assert err.value.status_code == 403 and err.value.code == "model_not_allowed"
    assert isinstance(err.value.body, dict) and err.value.body["param"] == "model"
    assert [m.id for m in client.models.list()] == ["sora-2"]
    assert client.videos.list().data == []


def test_in_flight_cap(gateway: GatewayProcess) -> None:
    secret = key(gateway, tenant(gateway), "--max-in-flight", "1")
    client = sdk(gateway, secret)
    first = client.videos.create(model="sora-2", prompt="one at a time", seconds="12",
                                 size="720x1280")
    with pytest.raises(openai.RateLimitError) as err:
        client.videos.create(model="sora-2", prompt="second", seconds="4", size="720x1280")
    assert err.value.status_code == 429 and err.value.code == "too_many_inflight_jobs"
    client.videos.delete(first.id)  # cancelled: no longer in flight
    second = client.videos.create(model="sora-2", prompt="now", seconds="4", size="720x1280")
    client.videos.delete(second.id)


def test_create_rate_limit_is_separate_from_polls(gateway: GatewayProcess) -> None:
    secret = key(gateway, tenant(gateway), "--creates-per-minute", "2")
    client = sdk(gateway, secret)
    made = []
    for remaining in ("1", "0"):
        raw = client.videos.with_raw_response.create(model="sora-2", prompt="rl",
                                                     seconds="4", size="720x1280")
        assert raw.headers["x-ratelimit-limit-requests"] == "2"
        assert raw.headers["x-ratelimit-remaining-requests"] == remaining
        assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
        made.append(raw.parse().id)
    with pytest.raises(openai.RateLimitError) as err:
        client.videos.create(model="sora-2", prompt="rl", seconds="4", size="720x1280")
    assert err.value.code == "rate_limit_exceeded" and err.value.type == "rate_limit_error"
    headers = err.value.response.headers
    assert 25 <= int(headers["retry-after"]) <= 31
    assert headers["x-ratelimit-remaining-requests"] == "0"
    for _ in range(20):  # polling is not limited by the create bucket
        client.videos.retrieve(made[0])
    for vid in made:
        client.videos.delete(vid)


def test_poll_rate_limit_is_separate_from_creates(gateway: GatewayProcess) -> None:
    secret = key(gateway, tenant(gateway), "--polls-per-minute", "3")
    client = sdk(gateway, secret)
    video = client.videos.create(model="sora-2", prompt="poll", seconds="4", size="720x1280")
    raw = client.videos.with_raw_response.retrieve(video.id)
    assert raw.headers["x-ratelimit-remaining-requests"] == "2"
    client.videos.list()
    client.videos.retrieve(video.id)
    with pytest.raises(openai.RateLimitError) as err:
        client.videos.retrieve(video.id)
    assert err.value.code == "rate_limit_exceeded"
    assert int(err.value.response.headers["retry-after"]) >= 15
    with pytest.raises(openai.RateLimitError):
        client.videos.download_content(video.id)  # content is a poll too
    client.videos.delete(client.videos.create(model="sora-2", prompt="still creates",
                                              seconds="4", size="720x1280").id)
    client.videos.delete(video.id)


def test_models_show_what_the_tenant_pays(gateway: GatewayProcess) -> None:
    name = tenant(gateway, price_multiplier="0.5")
    resp = admin(gateway, "PUT", "/prices", json={"model": "sora-2-pro", "size": "1920x1080",
                                                  "price": "0.60", "tenant": name})
    assert resp.status_code == 200 and resp.json()["source"] == "tenant", resp.text
    client = sdk(gateway, key(gateway, name))
    models = {m.id: m.model_extra or {} for m in client.models.list()}
    assert models["sora-2"]["pricing"]["per_second_micros"]["1280x720"] == 50_000
    assert models["sora-2-pro"]["pricing"]["per_second_micros"]["1920x1080"] == 300_000
    assert models["sora-2-pro"]["pricing"]["per_second"]["1024x1792"] == 0.25
    video = client.videos.create(model="sora-2-pro", prompt="cheap", seconds="4",
                                 size="1920x1080")
    assert sum(e["amount_micros"] for e in entries(gateway, client.api_key,
                                                   job_id=video.id)) == -1_200_000
    client.videos.delete(video.id)


def test_ledger_pagination_and_bad_cursor(gateway: GatewayProcess) -> None:
    name = tenant(gateway, balance="1")
    for i in [0, 1, 2, 3, 0]:  # the second ref-0 is a replay: a no-op
        resp = admin(gateway, "POST", f"/tenants/{name}/topups",
                     json={"amount": "0.25", "reference": f"ref-{i}"})
        assert resp.status_code == (201 if resp.json()["replayed"] is False else 200)
    secret = key(gateway, name)
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"after": after} if after else {})
        page = get(gateway, secret, "/billing/ledger", **params).json()
        seen += [e["id"] for e in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert len(seen) == 5 == len(set(seen))
    assert balance(gateway, secret) == 2_000_000
    bad = get(gateway, secret, "/billing/ledger", after="nope")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "after"
    too_many = get(gateway, secret, "/billing/ledger", limit=1000)
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "invalid_value"
    assert get(gateway, "sk-rg-wrong", "/billing/balance").status_code == 401


def test_cli_show_verify(gateway: GatewayProcess, paid: str,
                         finished: dict[str, Any]) -> None:
    name = get(gateway, paid, "/billing/balance").json()["name"]
    out = gateway.cli("tenants", "show", name, "--verify")
    assert "verified: cached balance = ledger sum = $10.80" in out
    assert "reserve" in out and "settle" in out and "topup" in out

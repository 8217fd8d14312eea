"""Webhooks end to end: a live gateway, a real receiver on loopback, the openai SDK.

The gateway here has a retry window of a few seconds, so a failing receiver sees its
delivery retried with backoff and then dead within the test, and a replay succeeds.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.integration.helpers import wait_done
from tests.support.server import GatewayProcess
from tests.webhooks.receiver import Received, Receiver

ADMIN = "rg-admin-webhook-tests"
BAD_WORD = "forbidden-hook-word"


@pytest.fixture(scope="module")
def flaky(gw: GatewayProcess) -> openai.OpenAI:
    """A client of tenant 'flaky' (creating its key creates the tenant)."""
    return sdk(gw, "flaky")


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    proc = GatewayProcess(tmp_path_factory.mktemp("webhooks"), env={
        "REELGATE_ADMIN_TOKEN": ADMIN,
        "REELGATE_MODERATION_WORDS": BAD_WORD,
        "REELGATE_RENDER_CONCURRENCY": "2",
        "REELGATE_WEBHOOK_MAX_AGE_SECONDS": "2.5",
        "REELGATE_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
        "REELGATE_WEBHOOK_BACKOFF_MAX_SECONDS": "1",
        "REELGATE_WEBHOOK_TIMEOUT_SECONDS": "3",
    })
    proc.start()
    yield proc
    proc.stop()


def admin(gw: GatewayProcess, method: str, path: str, *, headers: dict[str, str] | None = None,
          **kw: Any) -> httpx.Response:
    return httpx.request(method, f"{gw.root_url}/admin/api{path}", timeout=10,
                         headers={"authorization": f"Bearer {ADMIN}", **(headers or {})}, **kw)


def sdk(gw: GatewayProcess, tenant: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=gw.create_key(f"{tenant}-key", tenant=tenant),
                         base_url=gw.base_url, max_retries=0)


def unwrap(req: Received, secret: str) -> Any:
    verifier = openai.OpenAI(api_key="unused", webhook_secret=secret)
    return verifier.webhooks.unwrap(req.body, req.headers)


def events_of(reqs: list[Received]) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in reqs]


def test_completed_and_failed_events_are_signed_so_the_sdk_verifies_them(
    gw: GatewayProcess,
) -> None:
    client = sdk(gw, "hooked")
    stranger = sdk(gw, "stranger")
    with Receiver() as rx:
        out = gw.cli("webhooks", "add", rx.url, "--tenant", "hooked", "--allow-private",
                     "--events", "video.created,video.completed,video.failed")
        secret = out.strip().splitlines()[-1]
        assert secret.startswith("whsec_")
        good = client.videos.create(model="sora-2", prompt="a kite over dunes", seconds="4")
        bad = client.videos.create(model="sora-2", prompt=f"a {BAD_WORD} scene", seconds="4")
        other = stranger.videos.create(model="sora-2", prompt="not theirs", seconds="4")
        assert wait_done(client, good.id).status == "completed"
        assert wait_done(client, bad.id).status == "failed"
        assert wait_done(stranger, other.id).status == "completed"
        reqs = rx.wait_for(lambda got: len(got) >= 4)
        time.sleep(1.0)  # anything extra (a duplicate, another tenant's event) shows up now
        reqs = rx.snapshot()

    seen = sorted((unwrap(r, secret).type, unwrap(r, secret).data.id) for r in reqs)
    assert seen == sorted([("video.created", good.id), ("video.completed", good.id),
                           ("video.created", bad.id), ("video.failed", bad.id)])
    for req, body in zip(reqs, events_of(reqs), strict=True):
        assert body["object"] == "event" and body["id"].startswith("evt_")
        assert set(body) == {"id", "object", "created_at", "type", "data"}
        assert body["data"] == {"id": body["data"]["id"]}  # only the id, as OpenAI sends
        assert req.headers["webhook-id"] == body["id"]
        assert abs(int(req.headers["webhook-timestamp"]) - time.time()) < 60
        assert req.headers["webhook-signature"].startswith("v1,")
    forged = Received(reqs[0].path, reqs[0].headers, reqs[0].body.replace(b"video_", b"video_x"))
    with pytest.raises(openai.InvalidWebhookSignatureError):
        unwrap(forged, secret)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        unwrap(reqs[0], "whsec_" + "QUJD" * 11)


def wait_delivery(gw: GatewayProcess, endpoint_id: str, status: str,
                  timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = admin(gw, "GET", "/webhooks/deliveries",
                     params={"endpoint_id": endpoint_id, "status": status}).json()["data"]
        if rows:
            return dict(rows[0])
        time.sleep(0.1)
    raise AssertionError(f"no {status} delivery for {endpoint_id} after {timeout}s")


def test_failing_receiver_is_retried_with_backoff_then_dead_then_replayed(
    gw: GatewayProcess, flaky: openai.OpenAI,
) -> None:
    client = flaky
    with Receiver(status=500) as rx:
        created = admin(gw, "POST", "/webhooks", json={
            "tenant": "flaky", "url": rx.url, "allow_private": True})
        assert created.status_code == 201, created.text
        endpoint = created.json()
        assert endpoint["events"] == ["video.completed", "video.failed"]
        video = client.videos.create(model="sora-2", prompt="a flaky receiver", seconds="4")
        assert wait_done(client, video.id).status == "completed"
        dead = wait_delivery(gw, endpoint["id"], "dead")
        assert dead["event_type"] == "video.completed" and dead["job_id"] == video.id
        assert dead["attempts"] >= 3 and dead["last_status_code"] == 500
        attempts = rx.snapshot()
        assert len(attempts) == dead["attempts"]
        # one event, retried: same webhook-id and body, re-signed with a fresh timestamp
        assert len({r.headers["webhook-id"] for r in attempts}) == 1
        assert len({r.body for r in attempts}) == 1
        for req in attempts:
            assert unwrap(req, endpoint["secret"]).data.id == video.id
        # exponential backoff: 0.2 s doubling with ±25 % jitter; a retry may come late
        # (a busy machine) but never before its time
        gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
        for i, gap in enumerate(gaps):
            assert gap >= min(1.0, 0.2 * 2**i) * 0.75 * 0.95, gaps
        assert gaps[-1] > gaps[0], gaps
        listed = gw.cli("webhooks", "deliveries", "--status", "dead")
        assert dead["id"] in listed

        rx.status = 200
        out = gw.cli("webhooks", "replay", dead["id"])
        again_id = out.strip().splitlines()[-1]
        assert again_id.startswith("whd_") and again_id != dead["id"]
        done = wait_delivery(gw, endpoint["id"], "delivered")
        assert done["id"] == again_id and done["attempts"] == 1
        final = rx.snapshot()[-1]
        assert final.headers["webhook-id"] == attempts[0].headers["webhook-id"]
        assert unwrap(final, endpoint["secret"]).type == "video.completed"
    original = admin(gw, "GET", f"/webhooks/deliveries/{dead['id']}").json()
    assert original["status"] == "replayed"
    assert dead["id"] not in gw.cli("webhooks", "deliveries", "--status", "dead")
    again = admin(gw, "POST", f"/webhooks/deliveries/{again_id}/replay")
    assert again.status_code == 201  # a delivered one may be resent too


@pytest.mark.parametrize(("body", "status", "code", "param"), [
    ({"tenant": "flaky", "url": "http://127.0.0.1:9/x"}, 400, "invalid_url", "url"),
    ({"tenant": "flaky", "url": "http://10.1.2.3/x"}, 400, "invalid_url", "url"),
    ({"tenant": "flaky", "url": "ftp://example.com/x"}, 400, "invalid_url", "url"),
    ({"tenant": "flaky", "url": "http://u:p@example.com/x", "allow_private": True}, 400,
     "invalid_url", "url"),
    ({"tenant": "flaky", "url": "http://127.0.0.1:9/x", "allow_private": True,
      "events": ["video.exploded"]}, 400, "invalid_value", "events"),
    ({"tenant": "flaky", "url": "http://127.0.0.1:9/x", "allow_private": True,
      "events": []}, 400, "invalid_value", "events"),
    ({"tenant": "flaky", "url": "http://127.0.0.1:9/x", "allow_private": True,
      "secret": "not-a-secret"}, 400, "invalid_value", "secret"),
    ({"tenant": "nobody-here", "url": "http://127.0.0.1:9/x", "allow_private": True}, 404,
     "tenant_not_found", "tenant"),
    ({"tenant": "flaky", "url": "http://127.0.0.1:9/x", "colour": "red"}, 400,
     "unknown_parameter", "colour"),
    ({"url": "http://127.0.0.1:9/x"}, 400, "missing_required_parameter", "tenant"),
])
def test_admin_api_rejects_bad_endpoints_with_openai_errors(
    gw: GatewayProcess, flaky: openai.OpenAI, body: dict[str, Any], status: int, code: str,
    param: str,
) -> None:
    resp = admin(gw, "POST", "/webhooks", json=body)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert (err["code"], err["param"]) == (code, param)


def test_admin_api_auth_listing_and_removal(gw: GatewayProcess) -> None:
    assert admin(gw, "POST", "/tenants", json={"name": "listing"}).status_code == 201
    assert httpx.get(f"{gw.root_url}/admin/api/webhooks").status_code == 401
    made = admin(gw, "POST", "/webhooks", json={
        "tenant": "listing", "url": "http://127.0.0.1:9/x", "allow_private": True,
        "events": ["video.progress", "video.completed"],
        "secret": "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQ="}).json()
    assert made["secret"] == "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    listed = admin(gw, "GET", "/webhooks", params={"tenant": "listing"}).json()["data"]
    assert [e["id"] for e in listed] == [made["id"]]
    assert "secret" not in listed[0]
    assert made["id"] in gw.cli("webhooks", "list", "--tenant", "listing")
    rotated = admin(gw, "POST", f"/webhooks/{made['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != made["secret"]
    printed = gw.cli("webhooks", "rotate-secret", made["id"]).strip().splitlines()[-1]
    assert printed.startswith("whsec_") and printed != rotated.json()["secret"]
    unknown = admin(gw, "POST", "/webhooks/we_nope/rotate-secret")
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "endpoint_id"
    chosen = admin(gw, "POST", f"/webhooks/{made['id']}/rotate-secret",
                   json={"secret": "not-a-secret"})
    assert chosen.status_code == 400 and chosen.json()["error"]["param"] == "secret"
    assert admin(gw, "DELETE", f"/webhooks/{made['id']}").status_code == 200
    gone = admin(gw, "DELETE", f"/webhooks/{made['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["param"] == "endpoint_id"
    assert admin(gw, "GET", "/webhooks/deliveries/whd_nope").status_code == 404
    bad = admin(gw, "GET", "/webhooks/deliveries", params={"status": "weird"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "status"
    broken = admin(gw, "POST", "/webhooks", content=b"{not json",
                   headers={"content-type": "application/json"})
    assert broken.status_code == 400

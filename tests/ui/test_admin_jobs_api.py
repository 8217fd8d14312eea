"""``/admin/api/jobs``: the explorer's queries, over the admin API's bearer token."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai

from tests.integration.helpers import wait_done
from tests.support.server import GatewayProcess
from tests.ui.conftest import ADMIN_TOKEN


def jobs(gw: GatewayProcess, path: str = "", **params: Any) -> httpx.Response:
    return httpx.get(f"{gw.root_url}/admin/api/jobs{path}", params=params, timeout=10,
                     headers={"authorization": f"Bearer {ADMIN_TOKEN}"})


def test_filters_pages_and_timeline(ui_gateway: GatewayProcess) -> None:
    gw = ui_gateway
    a = openai.OpenAI(api_key=gw.create_key("a", tenant="api-a"), base_url=gw.base_url,
                      max_retries=0)
    b = openai.OpenAI(api_key=gw.create_key("b", tenant="api-b"), base_url=gw.base_url,
                      max_retries=0)
    started = time.time()
    a1 = a.videos.create(model="sora-2", prompt="first", seconds="4")
    a2 = a.videos.create(model="sora-2-pro", prompt="second", seconds="4")
    b1 = b.videos.create(model="sora-2", prompt="theirs", seconds="4")
    for client, vid in ((a, a1.id), (a, a2.id), (b, b1.id)):
        assert wait_done(client, vid).status == "completed"

    def ids(**params: Any) -> list[str]:
        resp = jobs(gw, **params)
        assert resp.status_code == 200, resp.text
        return [j["id"] for j in resp.json()["data"]]

    assert ids(tenant="api-a") == [a2.id, a1.id]  # newest first
    assert ids(tenant="api-a", model="sora-2") == [a1.id]
    assert ids(tenant="api-b", status="completed", channel="local") == [b1.id]
    assert ids(tenant="api-b", status="failed") == []
    assert set(ids(since=str(started - 1))) >= {a1.id, a2.id, b1.id}
    assert ids(tenant="api-a", until="2001-01-01T00:00:00") == []
    first = jobs(gw, tenant="api-a", limit=1).json()
    assert [j["id"] for j in first["data"]] == [a2.id] and first["has_more"] is True
    second = jobs(gw, tenant="api-a", limit=1, after=first["last_id"]).json()
    assert [j["id"] for j in second["data"]] == [a1.id] and second["has_more"] is False

    detail = jobs(gw, f"/{a1.id}").json()
    assert detail["tenant"] == "api-a" and detail["state"] == "completed"
    assert detail["channel"] == "local" and detail["media"] == ["spritesheet", "thumbnail",
                                                                "video"]
    kinds = [e["kind"] for e in detail["events"]]
    assert kinds[0] == "created" and kinds[-1] == "state:completed"


def test_bad_queries_get_openai_errors(ui_gateway: GatewayProcess) -> None:
    for params, param in (({"status": "sleeping"}, "status"), ({"since": "soon"}, "since"),
                          ({"after": "video_nope"}, "after"), ({"limit": "0"}, "limit")):
        resp = jobs(ui_gateway, **params)
        assert resp.status_code == 400, params
        assert resp.json()["error"]["param"] == param
    missing = jobs(ui_gateway, "/video_nope")
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "job_id"
    anon = httpx.get(f"{ui_gateway.root_url}/admin/api/jobs", timeout=10)
    assert anon.status_code == 401

"""The retrieve fast path answers exactly as the declared route does.

``GET /v1/videos/{id}`` without a body is answered in front of the framework
(api/fast.py); the same request with an (empty) body goes through FastAPI's route.
Each case here is sent both ways to the same application and the answers compared:
status, body and every header but ``date``/``server``, for a job, a missing key, a
wrong key, another tenant's job (404), an unknown id and a rate-limited key (429).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reelgate.api import fast as fast_module
from reelgate.api.app import create_app
from reelgate.auth import repository as auth_repo
from reelgate.auth.service import KeyLimits
from reelgate.bootstrap import Gateway
from reelgate.config import Settings
from reelgate.jobs.requests import parse_create
from tests.support.server import database_env


@pytest.fixture()
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    url = database_env().get("REELGATE_DATABASE_URL",
                             f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    settings = Settings.from_env(data_dir=tmp_path, database_url=url, local_channel="off",
                                 storage_url=str(tmp_path / "media"), run_worker=False)
    gateway = await Gateway.start(settings)
    try:
        yield gateway
    finally:
        await gateway.close()


async def _both(client: httpx.AsyncClient, path: str, key: str | None
                ) -> tuple[httpx.Response, httpx.Response]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    fast = await client.get(path, headers=headers)
    full = await client.request("GET", path, headers={**headers, "content-length": "0"})
    return fast, full


def _same(fast: httpx.Response, full: httpx.Response) -> None:
    assert fast.status_code == full.status_code, (fast.text, full.text)
    assert fast.content == full.content
    skip = {"date", "server"}
    assert ({k: v for k, v in fast.headers.items() if k not in skip}
            == {k: v for k, v in full.headers.items() if k not in skip})


async def test_each_answer_is_the_same_both_ways(gw: Gateway,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    answered: list[int] = []  # successes the fast path sent itself
    real = fast_module._send_json

    async def counted(*args: Any) -> None:
        answered.append(1)
        await real(*args)

    monkeypatch.setattr(fast_module, "_send_json", counted)
    mine = await gw.keys.create("fast", "mine", create_tenant=True)
    limited = await gw.keys.create("fast", "limited", KeyLimits(polls_per_minute=4))
    theirs = await gw.keys.create("elsewhere", "theirs", create_tenant=True)
    async with gw.db.read() as conn:
        principal = await auth_repo.find_principal(conn, mine.secret)
    assert principal is not None
    params = parse_create({"prompt": "polled", "model": "sora-2"}, None, gw.catalog,
                          max_prompt_chars=1000)
    job = await gw.videos.create(principal, params)
    app = create_app(gateway=gw)
    app.state.gateway = gw  # what the lifespan does when a server starts the app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        path = f"/v1/videos/{job.id}"
        fast, full = await _both(client, path, mine.secret)
        assert fast.status_code == 200 and fast.json()["id"] == job.id
        assert "openai-poll-after-ms" in fast.headers
        _same(fast, full)
        assert answered == [1]  # the bodiless GET went the fast way, the other did not
        # both ways, the request metrics name the declared route, not "unmatched"
        text = (await client.get("/metrics")).text
        line = [ln for ln in text.splitlines() if ln.startswith("reelgate_http_requests_total")
                and 'route="/v1/videos/{video_id}"' in ln and 'status="200"' in ln]
        assert line and float(line[0].rsplit(" ", 1)[1]) == 2, line
        for key, status in ((None, 401), ("sk-rg-wrong", 401), (theirs.secret, 404)):
            fast, full = await _both(client, path, key)
            assert fast.status_code == status and "error" in fast.json()
            _same(fast, full)
        fast, full = await _both(client, "/v1/videos/video_nope", mine.secret)
        assert fast.status_code == 404
        _same(fast, full)
        # polls_per_minute=4: two allowed pairs carry the headers, the third pair is 429
        job_other = await gw.videos.create(principal, params)
        for expect in (200, 200):
            fast, full = await _both(client, f"/v1/videos/{job_other.id}", limited.secret)
            assert fast.status_code == full.status_code == expect
            assert fast.headers["x-ratelimit-limit-requests"] == "4"
            assert (int(fast.headers["x-ratelimit-remaining-requests"])
                    == int(full.headers["x-ratelimit-remaining-requests"]) + 1)
        fast, full = await _both(client, path, limited.secret)
        assert fast.status_code == full.status_code == 429
        assert fast.json() == full.json() and "retry-after" in fast.headers
        # a 404 after the limit check carries its headers too, both ways
        other = await gw.keys.create("fast", "limited-404", KeyLimits(polls_per_minute=100))
        fast, full = await _both(client, "/v1/videos/video_nope", other.secret)
        assert fast.status_code == full.status_code == 404
        assert fast.json() == full.json()
        assert fast.headers["x-ratelimit-limit-requests"] == "100"
        assert full.headers["x-ratelimit-limit-requests"] == "100"

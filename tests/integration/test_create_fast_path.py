"""The create fast path answers exactly as the declared route does.

``POST /v1/videos`` with a JSON body is answered in front of the framework
(api/fast.py). Each case here is sent to the same application twice, once the fast
way and once with the fast path switched off (through FastAPI's route, its
dependencies and middleware), and the answers compared: status, body (ids and times
aside) and every header but ``date``/``server``/``content-length``, for a create, an
idempotent replay, a missing and a wrong key, invalid bodies, a body over the limit,
a key over its create rate (429) and a tenant without money.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reelgate.api import fast as fast_module
from reelgate.api.app import create_app
from reelgate.auth.service import KeyLimits
from reelgate.bootstrap import Gateway
from reelgate.config import Settings
from tests.support.server import database_env

MAX_JSON = 4096
_VARIES = {"id", "created_at"}


@pytest.fixture()
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    url = database_env().get("REELGATE_DATABASE_URL",
                             f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    # the embedded channel serves the models (creates need one); no worker runs them
    settings = Settings.from_env(data_dir=tmp_path, database_url=url,
                                 storage_url=str(tmp_path / "media"), run_worker=False,
                                 max_json_bytes=MAX_JSON)
    gateway = await Gateway.start(settings)
    try:
        yield gateway
    finally:
        await gateway.close()


class Both:
    """Sends each create the fast way, then through the framework."""

    def __init__(self, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.client = client
        self.monkeypatch = monkeypatch
        self.fast_answers = 0
        real = fast_module.create_video

        async def counted(*args: Any) -> Any:
            self.fast_answers += 1
            return await real(*args)

        monkeypatch.setattr(fast_module, "create_video", counted)

    async def send(self, key: str | None, body: bytes, **headers: str
                   ) -> tuple[httpx.Response, httpx.Response]:
        headers = {"content-type": "application/json", **headers}
        if key:
            headers["authorization"] = f"Bearer {key}"
        fast = await self.client.post("/v1/videos", content=body, headers=headers)
        with self.monkeypatch.context() as off:
            off.setattr(fast_module, "_is_json_create", lambda scope: False)
            full = await self.client.post("/v1/videos", content=body, headers=headers)
        return fast, full


def _same(fast: httpx.Response, full: httpx.Response) -> None:
    assert fast.status_code == full.status_code, (fast.text, full.text)
    a, b = fast.json(), full.json()
    if fast.status_code == 200:  # two jobs (or one replayed): their ids and times differ
        a, b = ({k: v for k, v in x.items() if k not in _VARIES} for x in (a, b))
    assert a == b
    skip = {"date", "server", "content-length"}
    assert ({k: v for k, v in fast.headers.items() if k not in skip}
            == {k: v for k, v in full.headers.items() if k not in skip})


def _body(**fields: Any) -> bytes:
    return json.dumps({"model": "sora-2", "prompt": "a fox", **fields}).encode()


async def test_each_answer_is_the_same_both_ways(gw: Gateway,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    mine = await gw.keys.create("fast-create", "mine", create_tenant=True)
    theirs_limited = await gw.keys.create("fast-create", "limited",
                                          KeyLimits(creates_per_minute=4))
    app = create_app(gateway=gw)
    app.state.gateway = gw  # what the lifespan does when a server starts the app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        both = Both(client, monkeypatch)
        fast, full = await both.send(mine.secret, _body())
        assert fast.status_code == 200 and fast.json()["status"] == "queued"
        assert fast.json()["id"] != full.json()["id"]  # two jobs, one each way
        _same(fast, full)
        assert both.fast_answers == 1  # only the first went the fast way
        # both ways the request metrics name the declared route
        text = (await client.get("/metrics")).text
        line = [ln for ln in text.splitlines() if ln.startswith("reelgate_http_requests_total")
                and 'route="/v1/videos"' in ln and 'method="POST"' in ln
                and 'status="200"' in ln]
        assert line and float(line[0].rsplit(" ", 1)[1]) == 2, line

        # an idempotent replay answers the first job, both ways
        fast, full = await both.send(mine.secret, _body(prompt="once"),
                                     **{"idempotency-key": "k-1"})
        assert fast.json()["id"] == full.json()["id"]
        _same(fast, full)

        for key, body, status in (
                (None, _body(), 401), ("sk-rg-wrong", _body(), 401),
                (mine.secret, _body(model="nope"), 400),
                (mine.secret, _body(seconds="7"), 400),
                (mine.secret, b"{not json", 400),
                (mine.secret, b"[1, 2]", 400),
                (mine.secret, _body(prompt="x" * MAX_JSON), 413)):
            fast, full = await both.send(key, body)
            assert fast.status_code == status, fast.text
            assert set(fast.json()["error"]) == {"message", "type", "param", "code"}
            _same(fast, full)

        # a limited key: two allowed pairs carry the headers, the third pair is a 429
        for _ in range(2):
            fast, full = await both.send(theirs_limited.secret, _body())
            assert fast.status_code == full.status_code == 200
            assert fast.headers["x-ratelimit-limit-requests"] == "4"
            assert (int(fast.headers["x-ratelimit-remaining-requests"])
                    == int(full.headers["x-ratelimit-remaining-requests"]) + 1)
        fast, full = await both.send(theirs_limited.secret, _body())
        assert fast.status_code == full.status_code == 429
        assert fast.json() == full.json() and "retry-after" in fast.headers


async def test_a_body_streamed_past_the_limit_is_refused_the_fast_way(gw: Gateway) -> None:
    """No Content-Length: the limit applies to what arrives, as the app's BodyLimit does."""
    mine = await gw.keys.create("fast-create", "stream", create_tenant=True)
    app = create_app(gateway=gw)
    app.state.gateway = gw

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"model": "sora-2", "prompt": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.post("/v1/videos", content=chunks(), headers={
            "content-type": "application/json", "authorization": f"Bearer {mine.secret}"})
    assert answer.status_code == 413
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert (await gw.videos.list(await _principal(gw, mine.secret), after=None, limit=5,
                                 order="desc")).jobs == []


async def test_multipart_creates_still_take_the_framework(gw: Gateway,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    mine = await gw.keys.create("fast-create", "form", create_tenant=True)
    app = create_app(gateway=gw)
    app.state.gateway = gw
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        both = Both(client, monkeypatch)
        answer = await client.post("/v1/videos", data={"model": "sora-2", "prompt": "form"},
                                   files={"unused": ("a.txt", b"x", "text/plain")},
                                   headers={"authorization": f"Bearer {mine.secret}"})
    assert both.fast_answers == 0
    assert answer.status_code in (200, 400), answer.text  # answered by the declared route


async def _principal(gw: Gateway, secret: str) -> Any:
    found = await gw.keys.authenticate(secret)
    assert found is not None
    return found

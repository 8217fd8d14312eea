"""Three ComfyUI servers as one farm for one model, one of them killed mid-render.

Each server is a channel with ``max_concurrent`` 1 and renders one prompt at a time.
Jobs wait in reelgate's queue (no server ever holds more than one prompt), spread over
the servers, and when a server dies mid-render and comes back empty (a ComfyUI
restart forgets its queue and history) the job it was rendering fails and is
refunded, never sent anywhere again; every other job completes exactly once. A server
allowed to hold a queue of its own (``queue_limit`` 0) that dies: its running job is
lost, the jobs waiting in its queue (never started) go to the other servers. A server
that does not answer at all is cooled down and its jobs go to the others. The fakes
count renders by reelgate job id across all servers; every wait is on a state.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from reelgate.routing.health import DOWN_COOLDOWN
from tests.fakes import FakeServer
from tests.fakes.comfyui_fake import ComfyUIFake, RenderLog
from tests.providers.support import closed_port
from tests.support.comfyui import MODEL
from tests.support.server import GatewayProcess
from tests.upstreams.comfy_support import cli, comfy_channel
from tests.upstreams.support import Admin, Upstream, unique

SIZE, RENDER = "832x480", 1.0


@pytest.fixture()
def farm() -> Iterator[tuple[RenderLog, list[Upstream]]]:
    log = RenderLog()
    servers = [Upstream("comfyui", fake, FakeServer(fake).start())
               for fake in (ComfyUIFake(name=f"gpu{i}", render_seconds=RENDER, render_log=log)
                            for i in range(3))]
    yield log, servers
    for up in servers:
        up.server.stop()


def _statuses(sdk: openai.OpenAI, ids: list[str], timeout: float = 120.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        videos = {i: sdk.videos.retrieve(i) for i in ids}
        if all(v.status in ("completed", "failed") for v in videos.values()):
            return {i: v.status for i, v in videos.items()}
        if time.monotonic() > deadline:
            raise AssertionError({i: v.status for i, v in videos.items()})
        time.sleep(0.2)


def _fake(up: Upstream) -> ComfyUIFake:
    assert isinstance(up.fake, ComfyUIFake)
    return up.fake


def _wait_polled_on_open_socket(up: Upstream, prompt_ids: set[str]) -> None:
    """Until the gateway has looked at each prompt while its websocket to the server
    was open: what proves, after a restart, that the prompt had never started."""
    fake = _fake(up)
    deadline = time.monotonic() + 120
    while not fake.sockets:
        assert time.monotonic() < deadline, "the gateway never opened the websocket"
        time.sleep(0.05)
    opened = len(fake.requests)
    while True:
        looks = [r.path.rsplit("/", 1)[-1] for r in fake.requests[opened:]
                 if r.method == "GET" and r.path.startswith("/history/")]
        # two polls each: the first has been answered (and its proof kept) when the
        # second begins, since one job's polls never overlap
        if all(looks.count(p) >= 2 for p in prompt_ids) and fake.sockets:
            return
        looked = set(looks)
        assert time.monotonic() < deadline, (prompt_ids, looked)
        time.sleep(0.05)


def _kill_and_restart(admin: Admin, up: Upstream, log: RenderLog,
                      channel: dict[str, Any]) -> None:
    """Kill a server mid-render, keep it down until the gateway has found it gone (its
    channel cooled down), then start an empty one on the same port, as a restart does."""
    fake = _fake(up)
    up.server.stop()  # dies mid-render, with its in-memory queue and history
    found_dead = time.time() + DOWN_COOLDOWN / 2  # a busy refusal cools for 1 s only
    deadline = time.monotonic() + 120
    while (admin.channel(channel["name"])["cooldown_until"] or 0) <= found_dead:
        assert time.monotonic() < deadline, "the dead server was never cooled down"
        time.sleep(0.1)
    reborn = ComfyUIFake(name=f"{fake.name}-restarted", render_seconds=RENDER,
                         render_log=log)
    up.server = FakeServer(reborn, port=up.server.port).start()
    up.fake = reborn


def _refunded(gw: GatewayProcess, key: str, job_id: str) -> bool:
    answer = httpx.get(f"{gw.base_url}/billing/ledger", params={"job_id": job_id},
                       headers={"Authorization": f"Bearer {key}"}, timeout=10)
    kinds = [e["kind"] for e in answer.json()["data"]]
    return kinds.count("reserve") == 1 and kinds.count("refund") == 1


def test_farm_survives_a_server_killed_mid_render(
    upstream_gateway: GatewayProcess, admin: Admin, sdk: openai.OpenAI,
    farm: tuple[RenderLog, list[Upstream]],
) -> None:
    log, servers = farm
    channels = {_fake(up).name: comfy_channel(upstream_gateway, admin, up, max_concurrent=1)
                for up in servers}
    ids = [sdk.videos.create(model=MODEL, prompt=unique(f"farm job {n}"), size=SIZE,
                             seconds="2").id for n in range(7)]

    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline:
        victim = next((up for up in servers if isinstance(up.fake, ComfyUIFake)
                       and up.fake.running is not None and up.fake.running.started), None)
        time.sleep(0.02)
    assert victim is not None and isinstance(victim.fake, ComfyUIFake)
    running = victim.fake.running
    assert running is not None
    lost_job = running.extra_data["reelgate_job_id"]
    _kill_and_restart(admin, victim, log, channels[victim.fake.name])

    statuses = _statuses(sdk, ids)
    assert statuses[lost_job] == "failed"
    lost = sdk.videos.retrieve(lost_job)
    assert lost.error is not None and lost.error.code == "upstream_lost", lost.error
    assert _refunded(upstream_gateway, sdk.api_key, lost_job)
    assert [i for i, s in statuses.items() if s != "completed"] == [lost_job]

    renders = log.by_job()
    assert sorted(renders) == sorted(ids)  # every job rendered...
    assert all(len(servers_) == 1 for servers_ in renders.values()), renders  # ...once
    assert len({s for (s,) in renders.values()}) >= 3  # spread over the farm
    for up in servers:  # jobs waited in our queue, never piled onto one server
        assert isinstance(up.fake, ComfyUIFake) and up.fake.most_held <= 1
    for video_id in ids:
        if video_id != lost_job:
            assert len(sdk.videos.download_content(video_id).read()) > 1000


def test_jobs_queued_on_a_dead_server_move_to_the_others(
    upstream_gateway: GatewayProcess, admin: Admin, sdk: openai.OpenAI,
    farm: tuple[RenderLog, list[Upstream]],
) -> None:
    """gpu0 may hold a queue (queue_limit 0, three at once) and is tried first; it dies
    with one job rendering and two waiting behind it. The rendering one is lost
    (upstream_lost, refunded, never resent); the waiting ones, which ComfyUI never
    started, are sent to the other servers and complete there, rendered once."""
    log, servers = farm
    victim = servers[0]
    _fake(victim).render_seconds = 60.0  # its first job is still rendering when it dies
    queued = comfy_channel(upstream_gateway, admin, victim, max_concurrent=3, priority=10,
                           options={"queue_limit": 0})
    for up in servers[1:]:
        comfy_channel(upstream_gateway, admin, up, max_concurrent=1)
    ids = [sdk.videos.create(model=MODEL, prompt=unique(f"queued farm job {n}"), size=SIZE,
                             seconds="2").id for n in range(6)]
    fake = _fake(victim)
    deadline = time.monotonic() + 120
    while not (fake.running is not None and len(fake.pending) == 2):
        assert time.monotonic() < deadline, (fake.running, fake.pending)
        time.sleep(0.05)
    running = fake.running
    lost_job = running.extra_data["reelgate_job_id"]
    waiting = {p.prompt_id: p.extra_data["reelgate_job_id"] for p in fake.pending}
    _wait_polled_on_open_socket(victim, set(waiting))

    _kill_and_restart(admin, victim, log, queued)

    statuses = _statuses(sdk, ids)
    assert statuses[lost_job] == "failed"
    lost = sdk.videos.retrieve(lost_job)
    assert lost.error is not None and lost.error.code == "upstream_lost", lost.error
    assert _refunded(upstream_gateway, sdk.api_key, lost_job)
    assert [i for i, s in statuses.items() if s != "completed"] == [lost_job]
    renders = log.by_job()
    assert sorted(renders) == sorted(ids)
    assert all(len(where) == 1 for where in renders.values()), renders  # none twice
    assert renders[lost_job] == ["gpu0"]
    for job_id in waiting.values():  # never started on gpu0: rendered once, elsewhere
        assert renders[job_id] != ["gpu0"], renders
        assert len(sdk.videos.download_content(job_id).read()) > 1000


def test_an_unanswering_server_is_cooled_down_and_skipped(
    upstream_gateway: GatewayProcess, admin: Admin, sdk: openai.OpenAI,
    farm: tuple[RenderLog, list[Upstream]],
) -> None:
    log, servers = farm
    dead = comfy_channel(upstream_gateway, admin, servers[0], priority=10, max_concurrent=1,
                         base_url=f"http://127.0.0.1:{closed_port()}")
    for up in servers[1:]:
        comfy_channel(upstream_gateway, admin, up, max_concurrent=1)
    ids = [sdk.videos.create(model=MODEL, prompt=unique(f"around the dead one {n}"),
                             size=SIZE, seconds="2").id for n in range(4)]
    assert set(_statuses(sdk, ids).values()) == {"completed"}
    assert admin.channel(dead["name"])["cooldown_until"] is not None  # it was tried, refused
    assert sorted(log.by_job()) == sorted(ids)
    assert {s for (s,) in log.by_job().values()} <= {"gpu1", "gpu2"}
    code, out = cli(upstream_gateway, "channels", "test", dead["name"])
    assert code == 1 and "unreachable" in out, out

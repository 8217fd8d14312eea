"""A webhook host that rebinds between the URL check and the POST never gets the POST.

The dispatcher checks the URL before each attempt, and the HTTP client used to resolve
the name again to connect: a DNS server answering "public" to the first lookup and
"127.0.0.1" to the second made the gateway POST to its own loopback. The guarded
client connects only to an address it checked itself.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from reelgate.auth import repository as auth_repo
from reelgate.bootstrap import Gateway
from reelgate.config import Settings
from reelgate.store.tables import webhook_deliveries
from reelgate.webhooks import repository as repo
from reelgate.webhooks.dispatcher import Dispatcher
from tests.net.support import PUBLIC_IP
from tests.support.server import database_env
from tests.webhooks.receiver import Receiver

HOST = "hooks.rebind.test"


@pytest.fixture()
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    url = database_env().get("REELGATE_DATABASE_URL",  # PostgreSQL on that test pass
                             f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    settings = Settings.from_env(data_dir=tmp_path, database_url=url,
                                 storage_url=str(tmp_path / "media"), run_worker=False)
    gateway = await Gateway.start(settings)
    try:
        await gateway.bootstrap_key()  # tenant "default"
        yield gateway
    finally:
        await gateway.close()


async def test_a_rebinding_webhook_host_never_gets_the_post(
        gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    real_lookup, real_connect = loop.getaddrinfo, anyio.connect_tcp
    lookups: list[str] = []
    dialled: list[str] = []

    async def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name != HOST:
            return await real_lookup(host, port, *args, **kwargs)
        lookups.append(name)
        answer = PUBLIC_IP if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer, port))]

    async def connect(remote_host: Any, remote_port: int, **kwargs: Any) -> Any:
        dialled.append(str(remote_host))
        if remote_host == PUBLIC_IP:
            raise OSError("tests never dial out")
        return await real_connect(remote_host, remote_port, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    monkeypatch.setattr(anyio, "connect_tcp", connect)
    with Receiver() as rx:
        port = rx.server.server_address[1]
        async with gw.db.begin() as conn:
            tenant = await auth_repo.get_tenant_by_name(conn, "default")
            assert tenant is not None
            ep = await repo.add_endpoint(conn, tenant_id=tenant.id,
                                         url=f"http://{HOST}:{port}/hook",
                                         secret="whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
                                         events=("video.completed",), allow_private=False)
            await repo.enqueue(conn, endpoint_id=ep.id, job_id="video_1",
                               event_type="video.completed", event_key="k-rebind",
                               payload='{"id":"evt_rebind"}')
        dispatcher = Dispatcher(gw.db, replace(gw.settings, webhook_max_age_seconds=0.0))
        try:
            await dispatcher.run_until_idle()
        finally:
            await dispatcher.aclose()
        assert rx.snapshot() == []
    assert lookups  # the name was looked up (the stub was in the path) ...
    assert "127.0.0.1" not in dialled and HOST not in dialled  # ... and never dialled
    async with gw.db.read() as conn:
        [row] = list(await conn.execute(select(webhook_deliveries)))
    dead = repo.Delivery.from_row(row)
    assert dead.status == "dead" and dead.last_error is not None
    assert "loopback" in dead.last_error or "never dial out" in dead.last_error

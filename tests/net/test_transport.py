"""The guarded transport against real loopback servers: it connects only where it checked.

A name is resolved once per connection and every address checked; the socket goes to
a checked address (never to a second answer of a rebinding DNS server); the channel's
own host:port is reached as configured; TLS still verifies the name, not the IP.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest

from reelgate.net.client import PolicySwitch, guarded_client, private_ok
from reelgate.net.policy import OutboundPolicy
from reelgate.net.transport import DestinationRefused, GuardedTransport, verifying_context
from tests.net.support import (
    PUBLIC_IP,
    RecordingConnector,
    StubResolver,
    Target,
    certificate,
)


def _client(policy: OutboundPolicy, resolver: StubResolver | None = None,
            connector: RecordingConnector | None = None) -> httpx.AsyncClient:
    transport = GuardedTransport(policy, resolver=resolver, connector=connector)
    return guarded_client(transport=transport, timeout=10)


async def test_a_name_that_resolves_to_loopback_is_refused_before_connecting() -> None:
    resolver = StubResolver({"internal.test": [["127.0.0.1"]]})
    connector = RecordingConnector()
    with Target() as target:
        async with _client(OutboundPolicy(), resolver, connector) as client:
            with pytest.raises(DestinationRefused, match="loopback"):
                await client.get(f"http://internal.test:{target.port}/internal.mp4")
        assert target.hits == [] and connector.dialled == []


async def test_one_private_answer_among_public_ones_refuses_the_name() -> None:
    resolver = StubResolver({"mixed.test": [[PUBLIC_IP, "10.0.0.7"]]})
    connector = RecordingConnector()
    async with _client(OutboundPolicy(), resolver, connector) as client:
        with pytest.raises(DestinationRefused, match=r"10\.0\.0\.7 is a private address"):
            await client.get("http://mixed.test/x")
    assert connector.dialled == []


async def test_dns_rebinding_cannot_move_the_connection_to_loopback() -> None:
    """Public on the first lookup, loopback after: the socket goes to the checked public
    address (here refused by the stub, which never dials out), and the next connection
    looks the name up again and is refused. Loopback is never reached."""
    resolver = StubResolver({"rebind.test": [[PUBLIC_IP], ["127.0.0.1"]]})
    connector = RecordingConnector()
    with Target() as target:
        async with _client(OutboundPolicy(), resolver, connector) as client:
            url = f"http://rebind.test:{target.port}/internal.mp4"
            with pytest.raises(httpx.ConnectError, match="never dial out"):
                await client.get(url)
            assert connector.dialled == [(PUBLIC_IP, target.port)]
            with pytest.raises(DestinationRefused, match="loopback"):
                await client.get(url)
        assert resolver.lookups == ["rebind.test", "rebind.test"]  # once per connection
        assert connector.dialled == [(PUBLIC_IP, target.port)]
        assert target.hits == []


@pytest.mark.parametrize("host", ["localhost", "127.1", "0x7f.0.0.1", "2130706433",
                                  "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0"])
async def test_spellings_of_loopback_are_refused_with_the_real_resolver(host: str) -> None:
    with Target() as target:
        async with guarded_client(OutboundPolicy()) as client:
            with pytest.raises(DestinationRefused):
                await client.get(f"http://{host}:{target.port}/internal.mp4")
        assert target.hits == []


async def test_the_trusted_host_port_is_reached_as_configured_and_no_other() -> None:
    with Target(b"channel") as channel, Target() as neighbour:
        policy = OutboundPolicy.trusting([channel.url + "/v1"])
        async with guarded_client(policy) as client:
            assert (await client.get(channel.url + "/v1/videos")).content == b"channel"
            with pytest.raises(DestinationRefused):
                await client.get(neighbour.url + "/internal.mp4")  # same host, other port
        assert len(channel.hits) == 1 and neighbour.hits == []


async def test_the_private_opt_in_connects_to_the_checked_address() -> None:
    resolver = StubResolver({"gpu-farm.internal": [["127.0.0.1"]]})
    connector = RecordingConnector()
    with Target(b"rendered") as target:
        async with _client(OutboundPolicy(allow_private=True), resolver, connector) as client:
            response = await client.get(f"http://gpu-farm.internal:{target.port}/v.mp4")
        assert response.content == b"rendered"
        assert connector.dialled == [("127.0.0.1", target.port)]
        assert target.hits == [("GET", "/v.mp4", f"gpu-farm.internal:{target.port}")]


async def test_the_private_opt_in_still_refuses_link_local_metadata() -> None:
    resolver = StubResolver({"metadata.test": [["169.254.169.254"]]})
    async with _client(OutboundPolicy(allow_private=True), resolver) as client:
        with pytest.raises(DestinationRefused, match="link-local"):
            await client.get("http://metadata.test/latest/meta-data/")


async def test_a_policy_switch_keeps_strict_and_lax_requests_apart() -> None:
    with Target(b"hook") as target:
        async with guarded_client(transport=PolicySwitch()) as client:
            ok = await client.post(target.url, content=b"{}", extensions=private_ok(True))
            assert ok.content == b"hook"
            with pytest.raises(DestinationRefused):  # the lax pool's connection not reused
                await client.post(target.url, content=b"{}", extensions=private_ok(False))
        assert len(target.hits) == 1


async def test_tls_verifies_and_names_the_host_while_dialling_the_checked_ip(
        tmp_path: Path) -> None:
    """The certificate is for ``media.test`` only: verification passes only if SNI and
    hostname checking use the name, although the socket goes to 127.0.0.1."""
    cert, key = certificate(tmp_path, "media.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    seen: dict[str, str | None] = {}

    def sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        seen["sni"] = name

    server_ctx.sni_callback = sni  # type: ignore[assignment]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        seen["host"] = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                            if line.lower().startswith("host:"))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    client_ctx = ssl.create_default_context(cafile=str(cert))
    resolver = StubResolver({"media.test": [["127.0.0.1"]]})
    connector = RecordingConnector()
    transport = GuardedTransport(OutboundPolicy(allow_private=True), resolver=resolver,
                                 connector=connector, verify=client_ctx)
    try:
        async with guarded_client(transport=transport) as client:
            response = await client.get(f"https://media.test:{port}/v.mp4")
    finally:
        server.close()
        await server.wait_closed()
    assert response.content == b"ok"
    assert connector.dialled == [("127.0.0.1", port)]
    assert seen == {"sni": "media.test", "host": f"media.test:{port}"}


async def test_default_transports_share_one_context_that_still_verifies(tmp_path: Path) -> None:
    """One TLS context per process (each build reads the CA bundle on the event loop),
    and it verifies: a certificate no trusted CA signed is refused."""
    cert, key = certificate(tmp_path, "media.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    resolver = StubResolver({"media.test": [["127.0.0.1"]]})
    transports = [GuardedTransport(OutboundPolicy(allow_private=True), resolver=resolver)
                  for _ in range(2)]
    assert all(t._pool._ssl_context is verifying_context() for t in transports)
    assert verifying_context().verify_mode == ssl.CERT_REQUIRED
    try:
        async with guarded_client(transport=transports[0]) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(f"https://media.test:{port}/v.mp4")
    finally:
        server.close()
        await server.wait_closed()

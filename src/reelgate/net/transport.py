"""An httpx transport that connects only to addresses it has checked.

Checking a URL and then handing it to an HTTP client resolves the name twice, and a
hostile DNS server can answer "public" to the check and "127.0.0.1" to the client
(DNS rebinding). Here the check sits in the connection itself: an httpcore network
backend resolves the host once, refuses if *any* address is not allowed, and opens
the socket to a checked address. The URL keeps its host name, so the Host header,
TLS SNI and certificate verification are all for the name, not the IP.

Hosts the policy trusts (a channel's own base URL) are connected to as before.
Environment proxies are ignored: a proxy resolves names itself, which would make
the check meaningless.
"""

from __future__ import annotations

import functools
import ssl
import typing
from collections.abc import Awaitable, Callable, Iterable

import anyio
import httpcore
import httpx

from reelgate.net.policy import OutboundPolicy
from reelgate.net.ssrf import UnsafeURL, resolve

__all__ = ["DestinationRefused", "GuardedBackend", "GuardedTransport", "Resolver",
           "verifying_context"]

#: ``(host, port) -> addresses``; tests pass stubs, production uses getaddrinfo
Resolver = Callable[[str, int], Awaitable[list[str]]]
SocketOption = typing.Union[  # noqa: UP007 (httpcore's own alias, spelled the same)
    tuple[int, int, int], tuple[int, int, bytes | bytearray], tuple[int, int, None, int]]


class DestinationRefused(httpx.ConnectError):
    """The guard refused to connect; nothing was sent, so any request is safe to fail."""


class _Refused(Exception):
    """Raised inside httpcore; :class:`GuardedTransport` turns it into the httpx error."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve once, check every address, connect to a checked one (in resolver order)."""

    def __init__(self, policy: OutboundPolicy, *, resolver: Resolver | None = None,
                 connector: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self._resolve = resolver or resolve
        self._connector = connector or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[SocketOption] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        if self.policy.trusts(host, port):
            return await self._connector.connect_tcp(host, port, timeout, local_address,
                                                     socket_options)
        addresses = await self._addresses(host, port, timeout)
        for address in addresses:
            reason = self.policy.refusal(address)
            if reason is not None:
                raise _Refused(f"refused to connect to {host}:{port}: {reason}")
        failure: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                return await self._connector.connect_tcp(address, port, timeout,
                                                         local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def _addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        try:
            with anyio.fail_after(timeout):
                return await self._resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except UnsafeURL as exc:
            raise httpcore.ConnectError(str(exc)) from exc

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[SocketOption] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise _Refused("unix sockets are not reachable through a guarded client")

    async def sleep(self, seconds: float) -> None:
        await self._connector.sleep(seconds)


@functools.cache
def verifying_context() -> ssl.SSLContext:
    """The process's one certificate-verifying TLS context.

    Building one reads the whole CA bundle (~20 ms of CPU, on the event loop); an
    upstream client has 16 pools, and httpx built a context for each twice, so a
    provider's first use blocked the loop for ~0.6 s (2 s on a loaded machine: long
    enough for a job's lease to run out mid-submit). A context is safe to share.
    """
    return httpx.create_ssl_context(verify=True, trust_env=False)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose connection pool uses :class:`GuardedBackend`."""

    def __init__(self, policy: OutboundPolicy, *, resolver: Resolver | None = None,
                 connector: httpcore.AsyncNetworkBackend | None = None,
                 verify: ssl.SSLContext | bool = True,
                 limits: httpx.Limits = httpx.Limits(max_connections=100,
                                                     max_keepalive_connections=20)) -> None:
        if verify is True:
            verify = verifying_context()
        elif verify is False:
            verify = httpx.create_ssl_context(verify=False, trust_env=False)
        super().__init__(verify=verify, trust_env=False, limits=limits)
        self.backend = GuardedBackend(policy, resolver=resolver, connector=connector)
        # httpx builds its pool with the default backend and takes no other; swap it
        # for an identical pool on ours (tests assert the swap is in effect)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self.backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except _Refused as exc:
            raise DestinationRefused(str(exc), request=request) from None

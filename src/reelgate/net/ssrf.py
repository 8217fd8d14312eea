"""Refuse outbound URLs that point into private networks.

Webhook targets and reference-image URLs come from clients; without this check a
client could make the gateway call its own admin port or a cloud metadata service.

:func:`check_url` is the early check (at registration, before a fetch) that gives a
clear error message; it resolves the name, so on its own it leaves a window in which
DNS can change its answer. The guarded transport (:mod:`reelgate.net.transport`)
closes that window by checking the addresses it actually connects to. :func:`check_target`
is the per-request check without DNS, run on every redirect hop.
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import ip_address
from urllib.parse import urlsplit

import httpx

from reelgate.net.addresses import blocked_reason, is_public_address
from reelgate.net.policy import OutboundPolicy, host_port

__all__ = ["UnsafeURL", "check_target", "check_url", "is_public_address", "resolve"]

SCHEMES = ("https", "http")


class UnsafeURL(ValueError):
    pass


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, without repeats."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, OverflowError) as exc:  # gaierror is an OSError
        raise UnsafeURL(f"cannot resolve host {host!r}") from exc
    found: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in found:
            found.append(address)
    return found


def _literal(host: str) -> str | None:
    try:
        return str(ip_address(host))
    except ValueError:
        return None


async def check_url(url: str, *, allow_private: bool = False,
                    schemes: tuple[str, ...] = SCHEMES) -> None:
    """Raise :class:`UnsafeURL` unless ``url`` is well formed and resolves publicly."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a port out of range)
    except ValueError as exc:
        raise UnsafeURL(f"URL is not valid: {exc}") from exc
    if parts.scheme not in schemes or not parts.hostname:
        raise UnsafeURL(f"URL must be {' or '.join(schemes)} with a host")
    if parts.username or parts.password:
        raise UnsafeURL("URL must not carry credentials")
    if allow_private:
        return
    try:
        host, port = host_port(url)
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise UnsafeURL(f"URL is not valid: {exc}") from exc
    for address in await resolve(host, port):
        reason = blocked_reason(address)
        if reason is not None:
            raise UnsafeURL(f"host {parts.hostname!r} resolves to a non-public address: "
                            f"{reason}")


def check_target(url: httpx.URL, policy: OutboundPolicy,
                 schemes: tuple[str, ...] = SCHEMES) -> None:
    """The checks one request (or redirect hop) can get before any connection.

    Scheme and credentials always; an IP literal at once, unless its host:port is
    trusted. A host name is left to the guarded transport, which resolves it once.
    """
    if url.scheme not in schemes or not url.host:
        raise UnsafeURL(f"URL must be {' or '.join(schemes)} with a host, got {url.scheme!r}")
    if url.userinfo:
        raise UnsafeURL("URL must not carry credentials")
    host, port = host_port(url)
    if policy.trusts(host, port):
        return
    literal = _literal(host)
    if literal is not None:
        reason = policy.refusal(literal)
        if reason is not None:
            raise UnsafeURL(f"refused {url.copy_with(query=None)}: {reason}")

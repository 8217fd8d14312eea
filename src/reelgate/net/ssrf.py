"""Refuse outbound URLs that point into private networks.

Webhook targets and reference-image URLs come from clients; without this check a
client could make the gateway call its own admin port or a cloud metadata service.
The host is resolved and every address it resolves to must be public.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

__all__ = ["UnsafeURL", "check_url", "is_public_address"]


class UnsafeURL(ValueError):
    pass


def is_public_address(addr: str) -> bool:
    ip = ipaddress.ip_address(addr)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
    )


async def check_url(url: str, *, allow_private: bool = False,
                    schemes: tuple[str, ...] = ("https", "http")) -> None:
    """Raise :class:`UnsafeURL` unless ``url`` is well formed and resolves publicly."""
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise UnsafeURL(f"URL must be {' or '.join(schemes)} with a host")
    if parts.username or parts.password:
        raise UnsafeURL("URL must not carry credentials")
    if allow_private:
        return
    host = parts.hostname
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except socket.gaierror as exc:
        raise UnsafeURL(f"cannot resolve host {host!r}") from exc
    for info in infos:
        if not is_public_address(str(info[4][0])):
            raise UnsafeURL(f"host {host!r} resolves to a private or loopback address")

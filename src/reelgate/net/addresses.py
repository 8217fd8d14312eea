"""Which IP addresses an outbound request may reach.

One decision for every address the gateway connects to on someone else's say-so.
IPv6 forms that carry an IPv4 address inside (IPv4-mapped, NAT64, 6to4, Teredo) are
judged by the IPv4 address they lead to: ``2002:7f00:1::`` is loopback, because a 6to4
relay would deliver it to 127.0.0.1. Python's ``is_global`` differs between releases
and calls multicast global, so the ranges are spelled out here, with ``is_global`` only
as a backstop for anything this table forgets.
"""

from __future__ import annotations

import enum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

__all__ = ["Category", "blocked_reason", "classify", "embedded_ipv4", "is_public_address"]

IPAddress = IPv4Address | IPv6Address


class Category(enum.StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"  # RFC 1918, IPv6 unique-local and site-local
    LOOPBACK = "loopback"
    CGNAT = "carrier-grade NAT"  # 100.64.0.0/10, shared address space
    LINK_LOCAL = "link-local"  # where cloud metadata services live
    METADATA = "cloud metadata"
    MULTICAST = "multicast"
    UNSPECIFIED = "unspecified"
    RESERVED = "reserved"  # documentation, benchmarking, future use, broadcast, ...


#: what ``allow_private_network`` (a self-hosted GPU farm, tests on loopback) opens up;
#: link-local and metadata addresses stay closed even then
PRIVATE_CATEGORIES = frozenset({Category.PRIVATE, Category.LOOPBACK, Category.CGNAT})

_V4: tuple[tuple[IPv4Network, Category], ...] = tuple(
    (IPv4Network(net), cat) for net, cat in (
        ("0.0.0.0/8", Category.UNSPECIFIED),
        ("10.0.0.0/8", Category.PRIVATE),
        ("100.100.100.200/32", Category.METADATA),  # Alibaba Cloud, inside CGNAT
        ("100.64.0.0/10", Category.CGNAT),
        ("127.0.0.0/8", Category.LOOPBACK),
        ("169.254.0.0/16", Category.LINK_LOCAL),
        ("172.16.0.0/12", Category.PRIVATE),
        ("192.0.0.0/24", Category.RESERVED),  # IETF protocol assignments
        ("192.0.2.0/24", Category.RESERVED),  # TEST-NET-1
        ("192.88.99.0/24", Category.RESERVED),  # old 6to4 relay anycast
        ("192.168.0.0/16", Category.PRIVATE),
        ("198.18.0.0/15", Category.RESERVED),  # benchmarking
        ("198.51.100.0/24", Category.RESERVED),  # TEST-NET-2
        ("203.0.113.0/24", Category.RESERVED),  # TEST-NET-3
        ("224.0.0.0/4", Category.MULTICAST),
        ("240.0.0.0/4", Category.RESERVED),  # incl. 255.255.255.255
    )
)

_V6: tuple[tuple[IPv6Network, Category], ...] = tuple(
    (IPv6Network(net), cat) for net, cat in (
        ("::/128", Category.UNSPECIFIED),
        ("::1/128", Category.LOOPBACK),
        ("fd00:ec2::254/128", Category.METADATA),  # AWS IMDS over IPv6, inside fc00::/7
        ("fc00::/7", Category.PRIVATE),
        ("fec0::/10", Category.PRIVATE),  # deprecated site-local
        ("fe80::/10", Category.LINK_LOCAL),
        ("ff00::/8", Category.MULTICAST),
        ("64:ff9b:1::/48", Category.PRIVATE),  # local-use NAT64 (RFC 8215)
        ("2001:db8::/32", Category.RESERVED),  # documentation
        ("3fff::/20", Category.RESERVED),  # documentation (RFC 9637)
    )
)

_GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
_NAT64 = IPv6Network("64:ff9b::/96")
_TEREDO = IPv6Network("2001::/32")


def embedded_ipv4(ip: IPv6Address) -> list[IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped, NAT64, 6to4, Teredo."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _NAT64:
        return [IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip in _TEREDO and ip.teredo is not None:
        server, client = ip.teredo
        return [client, server]  # the client is where packets end up
    return []


def _strip_scope(ip: IPAddress) -> IPAddress:
    if isinstance(ip, IPv6Address) and ip.scope_id is not None:
        return IPv6Address(str(ip).split("%", 1)[0])
    return ip


def _classify_v4(ip: IPv4Address) -> Category:
    for net, cat in _V4:
        if ip in net:
            return cat
    return Category.PUBLIC if ip.is_global else Category.RESERVED


def classify(address: str | IPAddress) -> Category:
    """The category of ``address``; an IPv6 form carrying IPv4 gets its worst IPv4's."""
    ip = _strip_scope(ip_address(address) if isinstance(address, str) else address)
    if isinstance(ip, IPv4Address):
        return _classify_v4(ip)
    inner = embedded_ipv4(ip)
    if inner:
        found = [_classify_v4(v4) for v4 in inner]
        return next((c for c in found if c is not Category.PUBLIC), Category.PUBLIC)
    for net, cat in _V6:
        if ip in net:
            return cat
    if ip not in _GLOBAL_UNICAST_V6 or not ip.is_global:
        return Category.RESERVED  # incl. IPv4-compatible ::a.b.c.d and 100::/64
    return Category.PUBLIC


def blocked_reason(address: str | IPAddress, *, allow_private: bool = False) -> str | None:
    """Why a connection to ``address`` is refused, or None if it may be made."""
    category = classify(address)
    if category is Category.PUBLIC or (allow_private and category in PRIVATE_CATEGORIES):
        return None
    ip = _strip_scope(ip_address(address) if isinstance(address, str) else address)
    inner = embedded_ipv4(ip) if isinstance(ip, IPv6Address) else []
    via = f" (it embeds {', '.join(map(str, inner))})" if inner else ""
    return f"{ip} is a {category.value} address{via}"


def is_public_address(addr: str) -> bool:
    return classify(addr) is Category.PUBLIC

"""Which addresses a guarded connection may reach: one table, every form of "private"."""

from __future__ import annotations

import pytest

from reelgate.net.addresses import Category, blocked_reason, classify

C = Category

TABLE = [
    # public
    ("8.8.8.8", C.PUBLIC), ("93.184.216.34", C.PUBLIC), ("1.1.1.1", C.PUBLIC),
    ("2606:4700:4700::1111", C.PUBLIC), ("2a00:1450:4001:81c::200e", C.PUBLIC),
    ("192.0.0.9", C.RESERVED), ("192.0.0.170", C.RESERVED),  # IETF protocol assignments
    # loopback, private, CGNAT
    ("127.0.0.1", C.LOOPBACK), ("127.255.255.254", C.LOOPBACK), ("::1", C.LOOPBACK),
    ("10.0.0.1", C.PRIVATE), ("172.16.5.4", C.PRIVATE), ("172.31.255.255", C.PRIVATE),
    ("192.168.1.1", C.PRIVATE), ("fc00::1", C.PRIVATE), ("fd12:3456::1", C.PRIVATE),
    ("fec0::1", C.PRIVATE),
    ("100.64.0.1", C.CGNAT), ("100.127.255.255", C.CGNAT),
    ("172.32.0.1", C.PUBLIC), ("100.128.0.1", C.PUBLIC),  # just outside the ranges
    # link-local and cloud metadata
    ("169.254.169.254", C.LINK_LOCAL), ("169.254.0.1", C.LINK_LOCAL),
    ("fe80::1", C.LINK_LOCAL), ("fe80::1%eth0", C.LINK_LOCAL),
    ("100.100.100.200", C.METADATA), ("fd00:ec2::254", C.METADATA),
    # multicast, unspecified, reserved
    ("224.0.0.1", C.MULTICAST), ("239.255.255.250", C.MULTICAST), ("ff02::1", C.MULTICAST),
    ("0.0.0.0", C.UNSPECIFIED), ("0.1.2.3", C.UNSPECIFIED), ("::", C.UNSPECIFIED),
    ("255.255.255.255", C.RESERVED), ("240.0.0.1", C.RESERVED), ("192.0.2.10", C.RESERVED),
    ("198.18.0.1", C.RESERVED), ("198.51.100.1", C.RESERVED), ("203.0.113.9", C.RESERVED),
    ("192.88.99.1", C.RESERVED), ("2001:db8::1", C.RESERVED), ("3fff::1", C.RESERVED),
    ("100::1", C.RESERVED),  # discard-only
    ("::127.0.0.1", C.RESERVED), ("::8.8.8.8", C.RESERVED),  # deprecated IPv4-compatible
    ("::ffff:0:127.0.0.1", C.RESERVED),  # IPv4-translated, not routable
    # IPv4-mapped: judged by the IPv4 inside
    ("::ffff:127.0.0.1", C.LOOPBACK), ("::ffff:10.1.2.3", C.PRIVATE),
    ("::ffff:169.254.169.254", C.LINK_LOCAL), ("::ffff:8.8.8.8", C.PUBLIC),
    # NAT64 (64:ff9b::/96): judged by the IPv4 inside
    ("64:ff9b::7f00:1", C.LOOPBACK), ("64:ff9b::a9fe:a9fe", C.LINK_LOCAL),
    ("64:ff9b::192.168.0.1", C.PRIVATE), ("64:ff9b::808:808", C.PUBLIC),
    ("64:ff9b:1::1", C.PRIVATE),  # local-use NAT64 prefix
    # 6to4 (2002::/16): judged by the IPv4 inside
    ("2002:a9fe:a9fe::", C.LINK_LOCAL), ("2002:7f00:1::", C.LOOPBACK),
    ("2002:0a00:0001::1", C.PRIVATE), ("2002:c0a8:0101::", C.PRIVATE),
    ("2002:6440:1::", C.CGNAT), ("2002:0808:0808::1", C.PUBLIC),
    # Teredo (2001::/32): judged by the client (and server) inside
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", C.LOOPBACK),  # client 127.0.0.1
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", C.PRIVATE),  # client 10.0.0.1
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", C.RESERVED),  # client 192.0.2.45
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", C.PUBLIC),  # client 8.8.8.8
]


@pytest.mark.parametrize(("address", "category"), TABLE)
def test_classification(address: str, category: Category) -> None:
    assert classify(address) is category


@pytest.mark.parametrize(("address", "category"), TABLE)
def test_only_public_addresses_pass_by_default(address: str, category: Category) -> None:
    reason = blocked_reason(address)
    if category is C.PUBLIC:
        assert reason is None
    else:
        assert reason is not None and category.value in reason


@pytest.mark.parametrize(("address", "category"), TABLE)
def test_the_private_opt_in_opens_private_loopback_and_cgnat_only(
        address: str, category: Category) -> None:
    opened = category in (C.PUBLIC, C.PRIVATE, C.LOOPBACK, C.CGNAT)
    assert (blocked_reason(address, allow_private=True) is None) is opened


def test_a_refusal_names_the_embedded_address() -> None:
    reason = blocked_reason("2002:7f00:1::")
    assert reason is not None and "127.0.0.1" in reason and "loopback" in reason

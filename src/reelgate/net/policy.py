"""Where a guarded client may connect: the line between the operator's and others' choices.

The operator chose a channel's ``base_url``, so its host and port are *trusted*:
connections there are made as the operator configured them, loopback and private
networks included (that is how a gateway next to its upstream, and every test fake,
works). Everything else a request can end up at was chosen by a user or an upstream:
a redirect to another host or port, a result URL, a webhook URL, an ``image_url``.
Those are *guarded*: resolved once, every address checked, and the connection made to
a checked address. ``allow_private`` (a channel's ``allow_private_network`` option, a
webhook endpoint's ``allow_private``) also lets guarded connections reach private,
loopback and CGNAT addresses, never link-local or cloud-metadata ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from reelgate.net.addresses import blocked_reason

__all__ = ["ALLOW_PRIVATE_OPTION", "OutboundPolicy", "host_port"]

#: the channel option that lets its upstream's redirects and result URLs be private
ALLOW_PRIVATE_OPTION = "allow_private_network"

_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_port(url: httpx.URL | str) -> tuple[str, int]:
    """The (host, port) a connection for ``url`` goes to, as the transport sees it."""
    url = httpx.URL(url) if isinstance(url, str) else url
    port = url.port or _DEFAULT_PORTS.get(url.scheme, 0)
    return url.raw_host.decode("ascii").lower(), port


@dataclass(frozen=True)
class OutboundPolicy:
    """What one guarded client may connect to; one pool per policy, never shared."""

    allow_private: bool = False
    trusted: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def trusting(cls, urls: Iterable[str], *, allow_private: bool = False) -> OutboundPolicy:
        return cls(allow_private, frozenset(host_port(u) for u in urls if u))

    @classmethod
    def for_channel(cls, base_url: str, options: Mapping[str, Any]) -> OutboundPolicy:
        """The channel's own host:port trusted; the rest guarded unless it opted in."""
        return cls.trusting([base_url], allow_private=options.get(ALLOW_PRIVATE_OPTION) is True)

    def trusts(self, host: str, port: int) -> bool:
        return (host.lower(), port) in self.trusted

    def refusal(self, address: str) -> str | None:
        """Why a guarded connection to ``address`` (an IP) is refused, or None."""
        return blocked_reason(address, allow_private=self.allow_private)

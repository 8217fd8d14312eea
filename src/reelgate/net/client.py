"""Guarded ``httpx.AsyncClient`` factories: the one way out for user- or upstream-chosen URLs.

Every client made here refuses to follow redirects on its own (a caller that follows
them must check each hop with :func:`reelgate.net.ssrf.check_target`; see
:func:`next_hop`), ignores environment proxies and connects through
:class:`~reelgate.net.transport.GuardedTransport`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from reelgate.net.policy import OutboundPolicy
from reelgate.net.transport import GuardedTransport, Resolver

__all__ = ["PRIVATE_OK", "PolicySwitch", "guarded_client", "next_hop", "private_ok"]

#: request extension read by :class:`PolicySwitch`: True lets this request go private
PRIVATE_OK = "reelgate.allow_private"


def guarded_client(policy: OutboundPolicy | None = None, *,
                   transport: httpx.AsyncBaseTransport | None = None,
                   resolver: Resolver | None = None,
                   timeout: httpx.Timeout | float | None = 10.0,
                   headers: Mapping[str, str] | None = None) -> httpx.AsyncClient:
    """A client connecting only where ``policy`` allows (strict when None).

    ``transport`` replaces the guarded one: a :class:`PolicySwitch`, or an
    ``httpx.MockTransport`` in unit tests.
    """
    return httpx.AsyncClient(
        transport=transport or GuardedTransport(policy or OutboundPolicy(), resolver=resolver),
        follow_redirects=False, trust_env=False, timeout=timeout, headers=headers)


def private_ok(allowed: bool) -> dict[str, Any]:
    """Request extensions for a :class:`PolicySwitch` client: may this one go private?"""
    return {PRIVATE_OK: allowed}


class PolicySwitch(httpx.AsyncBaseTransport):
    """Two guarded pools in one client, picked per request by :data:`PRIVATE_OK`.

    For senders whose targets each carry their own opt-in (webhook endpoints). The
    pools are separate so a connection opened under the lax policy is never reused
    by a strict request.
    """

    def __init__(self, *, resolver: Resolver | None = None) -> None:
        self.strict = GuardedTransport(OutboundPolicy(), resolver=resolver)
        self.lax = GuardedTransport(OutboundPolicy(allow_private=True), resolver=resolver)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        chosen = self.lax if request.extensions.get(PRIVATE_OK) is True else self.strict
        return await chosen.handle_async_request(request)

    async def aclose(self) -> None:
        await self.strict.aclose()
        await self.lax.aclose()


def next_hop(response: httpx.Response) -> httpx.URL | None:
    """Where a redirect points (resolved against the request URL), else None."""
    if response.is_redirect and "location" in response.headers:
        return response.url.join(response.headers["location"])
    return None

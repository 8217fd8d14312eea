"""Checking a channel live: does its base URL answer, and does each key work?

Each provider's ``check`` makes one cheap authenticated GET that creates nothing.
The answer is turned into a verdict an operator can act on: a bad key, an
unreachable host, a wrong base URL, a rate limit, or an upstream in trouble.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from reelgate.providers.base import Credential, ErrorKind, Provider, UpstreamError
from reelgate.routing.channels import Channel, CredentialInfo

__all__ = ["KeyCheck", "check_channel"]

_HINTS = {
    "bad_key": "the upstream rejected this key",
    "unreachable": "cannot connect to the base URL",
    "wrong_base_url": "the base URL answers, but not as this provider's API",
    "rate_limited": "the upstream is rate limiting this key right now",
    "upstream_error": "the upstream answered with a server error",
    "rejected": "the upstream refused the request (check the options, e.g. api_version)",
}
_KINDS = {
    ErrorKind.AUTH: "bad_key",
    ErrorKind.NOT_FOUND: "wrong_base_url",
    ErrorKind.PROTOCOL: "wrong_base_url",
    ErrorKind.RATE_LIMITED: "rate_limited",
    ErrorKind.REJECTED: "rejected",
    ErrorKind.AMBIGUOUS: "unreachable",
}


@dataclass(frozen=True)
class KeyCheck:
    """The verdict for one key of a channel (``problem`` is None when it works)."""

    credential_id: str
    label: str
    key: str  # masked
    ok: bool
    problem: str | None
    message: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _verdict(exc: UpstreamError) -> str:
    if exc.kind == ErrorKind.UNAVAILABLE:
        return "unreachable" if exc.status_code is None else "upstream_error"
    return _KINDS.get(exc.kind, "upstream_error")


async def _one(provider: Provider, info: CredentialInfo | None, cred: Credential) -> KeyCheck:
    started = time.monotonic()
    problem: str | None
    try:
        detail = await provider.check(cred)
    except UpstreamError as exc:
        problem = _verdict(exc)
        status = f"HTTP {exc.status_code}: " if exc.status_code else ""
        message = f"{_HINTS[problem]} ({status}{exc.message})"
        ok = False
    else:
        problem, message, ok = None, detail or "ok", True
    return KeyCheck(info.id if info else "", info.label if info else "",
                    info.masked if info else "", ok, problem, message,
                    round(time.monotonic() - started, 3))


async def check_channel(
    channel: Channel, provider: Provider, keys: Sequence[CredentialInfo],
    secret: Callable[[str], Awaitable[Credential]],
) -> list[KeyCheck]:
    """Check every enabled key of ``channel`` (a keyless channel is checked once)."""
    enabled = [k for k in keys if k.enabled]
    if not enabled and channel.provider != "local":
        return [KeyCheck("", "", "", False, "no_keys", "the channel has no enabled key", 0.0)]
    if not enabled:
        return [await _one(provider, None, Credential("", ""))]
    return [await _one(provider, k, await secret(k.id)) for k in enabled]

"""The embedded ``local`` channel: a demo renderer, never a fallback for paying jobs.

Adding or enabling a real channel retires it (disables it) unless an operator kept
it on purpose (``channels enable local``, or ``REELGATE_LOCAL_CHANNEL=on``).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.routing import channels as repo

__all__ = ["KEEP", "LOCAL_CHANNEL", "ensure_local_channel", "retire_local"]

log = logging.getLogger(__name__)

LOCAL_CHANNEL = "local"
KEEP = "keep"  # option on the local channel: an operator wants it next to real ones


async def retire_local(conn: AsyncConnection) -> list[str]:
    """Disable local channels nobody kept on purpose, once a real channel is serving."""
    retired = []
    for ch in await repo.list_channels(conn):
        if ch.provider == "local" and ch.enabled and not ch.options.get(KEEP):
            await repo.set_channel(conn, ch.id, enabled=False)
            log.warning("channel %s (the embedded local renderer) no longer takes new jobs "
                        "now that a real channel exists; `reelgate channels enable %s` keeps "
                        "it on", ch.name, ch.name)
            retired.append(ch.name)
    return retired


async def ensure_local_channel(conn: AsyncConnection, mode: str) -> None:
    """Apply ``REELGATE_LOCAL_CHANNEL`` at start-up.

    ``auto``: create the local channel when no channel exists; retire it once a real
    one is enabled. ``on``: create or re-enable it and keep it next to real channels.
    ``off``: leave the table alone.
    """
    if mode == "off":
        return
    existing = await repo.list_channels(conn)
    local = next((c for c in existing if c.name == LOCAL_CHANNEL), None)
    if mode == "on":
        if local is None:
            await repo.add_channel(conn, name=LOCAL_CHANNEL, provider="local", priority=-100,
                                   options={KEEP: True})
        elif not local.enabled or not local.options.get(KEEP):
            await repo.set_channel(conn, local.id, enabled=True,
                                   options={**local.options, KEEP: True})
        return
    if not existing:
        await repo.add_channel(conn, name=LOCAL_CHANNEL, provider="local", priority=-100)
        log.info("created the embedded local channel")
    elif any(c.provider != "local" and c.enabled for c in existing):
        await retire_local(conn)

"""A channel's health: how long an endpoint or a key sits at the back of the order.

The one owner of cooldowns. The scheduler reports what an upstream answered; these
rules decide what cools down and for how long, and write it to the channel and
credential rows, which every worker (and the router) reads. Cooling never removes a
channel or a key from routing (see :mod:`reelgate.routing.router`).
"""

from __future__ import annotations

from collections.abc import Callable

from reelgate.ids import now
from reelgate.providers.base import ErrorKind, UpstreamError
from reelgate.routing.channels import Channel, set_channel, set_credential
from reelgate.store.db import Database

__all__ = ["AUTH_COOLDOWN", "DOWN_COOLDOWN", "RATE_LIMIT_COOLDOWN", "ChannelHealth"]

#: an endpoint that refused a connection or answered 5xx
DOWN_COOLDOWN = 10.0
#: a key the upstream rejected; ``channels test`` says why
AUTH_COOLDOWN = 600.0
#: a 429 that did not say for how long (no ``Retry-After``)
RATE_LIMIT_COOLDOWN = 5.0


class ChannelHealth:
    def __init__(self, db: Database, on_change: Callable[[], None] = lambda: None) -> None:
        self.db = db
        #: called after every change, so cached channel lists are read again
        self.on_change = on_change

    async def submit_refused(self, channel: Channel, credential_id: str,
                             exc: UpstreamError) -> None:
        """A create the upstream certainly did not take: cool down what failed.

        429 and a rejected key are about one key (the whole channel too when it was
        its last fresh key and the upstream is throttling); a refused connection or a
        5xx is the endpoint itself, whichever key is used.
        """
        t = now()
        async with self.db.begin() as conn:
            if exc.kind == ErrorKind.UNAVAILABLE or not credential_id:
                await set_channel(conn, channel.id, cooldown_until=t + DOWN_COOLDOWN)
            else:
                pause = (AUTH_COOLDOWN if exc.kind == ErrorKind.AUTH
                         else exc.retry_after or RATE_LIMIT_COOLDOWN)
                await set_credential(conn, credential_id, cooldown_until=t + pause)
                others = [c for c in channel.credential_ids if c != credential_id
                          and channel.key_cooldowns.get(c, 0.0) <= t]
                if exc.kind == ErrorKind.RATE_LIMITED and not others:
                    await set_channel(conn, channel.id, cooldown_until=t + pause)
        self.on_change()

    async def unreachable(self, channel: Channel) -> None:
        """A follow-up (a poll) found nobody answering at the channel's address: new
        jobs go elsewhere for a while, and its own jobs are looked at again after it."""
        async with self.db.begin() as conn:
            await set_channel(conn, channel.id, cooldown_until=now() + DOWN_COOLDOWN)
        self.on_change()

    async def throttled(self, channel: Channel, seconds: float) -> None:
        """The channel answered a follow-up with 429: nothing on it is claimed (nor
        refreshed) for ``seconds``, and nothing is failed for it."""
        async with self.db.begin() as conn:
            await set_channel(conn, channel.id, cooldown_until=now() + seconds)
        self.on_change()

"""Admin UI sign-outs that hold: the sessions signed out before their cookie expired.

A session is a signed cookie any API process accepts without a look-up, so signing
out used to only ask the browser to forget it: a copy of the cookie stayed valid for
its whole 12 hours. Each session now carries an id, and signing out records it here
(until the cookie's own expiry), where every process checks it.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from reelgate.ids import now
from reelgate.store.db import Database
from reelgate.store.tables import admin_session_revocations as revoked

__all__ = ["AdminSessions"]


class AdminSessions:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def revoke(self, session_id: str, expires_at: float) -> None:
        """Refuse ``session_id`` from now on; rows of sessions expired anyway go."""
        try:
            async with self.db.begin() as conn:
                await conn.execute(delete(revoked).where(revoked.c.expires_at < now()))
                await conn.execute(insert(revoked).values(session_id=session_id,
                                                          expires_at=expires_at))
        except IntegrityError:  # signed out twice (two tabs): already refused
            pass

    async def is_revoked(self, session_id: str) -> bool:
        async with self.db.read() as conn:
            row = (await conn.execute(select(revoked.c.session_id)
                                      .where(revoked.c.session_id == session_id))).first()
        return row is not None

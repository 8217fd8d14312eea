"""Creating and reading characters (``POST /v1/videos/characters``, ``GET .../{id}``).

Unlike a video, a character is made while the client waits: the Videos API answers
the create with the character itself. So the create walks the channels that can make
characters (best first, like a job's submit; a refusal that certainly made nothing
moves on to the next key or channel) and stores the one that did, with its channel
and key: a video naming the character is pinned there. The price, if the operator set
one, is reserved before the upstream is asked and refunded if no upstream made it.
A character belongs to its tenant: another tenant's id is "not found".
"""

from __future__ import annotations

import logging
from pathlib import Path

from reelgate.auth.principal import Principal
from reelgate.billing.characters import refund_character, reserve_character
from reelgate.catalog import Operation
from reelgate.characters import repository as repo
from reelgate.characters.repository import CharacterRecord
from reelgate.config import Settings
from reelgate.errors import InvalidRequest, NotFound, ServiceUnavailable
from reelgate.ids import new_id, now
from reelgate.jobs.origin import CharacterRef
from reelgate.providers.base import CharacterMaker, ErrorKind, UpstreamError
from reelgate.routing import router
from reelgate.routing.operations import UNSUPPORTED_BY_CHANNEL, able
from reelgate.scheduler.directory import ChannelDirectory
from reelgate.store.db import Database

__all__ = ["MAX_NAME", "CharacterService"]

log = logging.getLogger(__name__)

#: the Videos API's limit on a character's name
MAX_NAME = 80


class CharacterService:
    def __init__(self, db: Database, directory: ChannelDirectory, settings: Settings) -> None:
        self.db = db
        self.directory = directory
        self.settings = settings

    async def get(self, principal: Principal, character_id: str) -> CharacterRecord:
        async with self.db.read() as conn:
            found = await repo.get(conn, character_id, tenant_id=principal.tenant_id)
        if found is None:
            raise NotFound(f"No character found with id '{character_id}'.",
                           param="character_id", code="character_not_found")
        return found

    async def refs(self, principal: Principal, ids: tuple[str, ...]) -> tuple[CharacterRef, ...]:
        """The characters a create names, all the caller's and known to one channel."""
        found = []
        for character_id in ids:
            try:
                found.append(await self.get(principal, character_id))
            except NotFound as exc:
                raise NotFound(exc.message, param="characters",
                               code="character_not_found") from exc
        if len({(c.channel_id, c.credential_id) for c in found}) > 1:
            raise InvalidRequest("These characters were made on different upstreams; one "
                                 "video can only show characters of one.", param="characters",
                                 code="characters_on_different_channels")
        return tuple(CharacterRef(c.id, c.upstream_id, c.channel_id, c.credential_id)
                     for c in found)

    async def create(self, principal: Principal, name: str, clip: Path) -> CharacterRecord:
        cands = router.candidates(await self.directory.channels(), None, now=now(),
                                  able=able({Operation.CHARACTERS}))
        if not cands:
            raise InvalidRequest("No channel on this gateway can create characters.",
                                 param="video", code=UNSUPPORTED_BY_CHANNEL)
        character_id, price = new_id("char"), self.settings.character_price_micros
        async with self.db.begin() as conn:
            await reserve_character(conn, principal, character_id, price, name)
        try:
            made = await self._walk(cands, name, clip)
        except BaseException:
            async with self.db.begin() as conn:
                await refund_character(conn, principal, character_id, price)
            raise
        channel_id, credential_id, upstream_id = made
        record = CharacterRecord(character_id, principal.tenant_id, principal.key_id, name,
                                 channel_id, credential_id or None, upstream_id, price, now())
        async with self.db.begin() as conn:
            await repo.insert(conn, record)
        log.info("character %s created on channel %s", character_id, channel_id)
        return record

    async def _walk(self, cands: list[router.Candidate], name: str,
                    clip: Path) -> tuple[str, str, str]:
        """(channel id, credential id, upstream id) of the first upstream that made it."""
        last: UpstreamError | None = None
        for cand in cands:
            provider = await self.directory.provider(cand.channel)
            if not isinstance(provider, CharacterMaker):
                continue
            credential = await self.directory.credential(cand.credential_id)
            try:
                upstream_id = await provider.create_character(name, clip, credential)
            except UpstreamError as exc:
                log.warning("character on %s refused: %r", cand.channel.name, exc)
                if exc.accepted_impossible:
                    last = exc
                    continue
                if exc.kind is ErrorKind.REJECTED:
                    raise InvalidRequest(f"The upstream refused the character: {exc.message}",
                                         param="video", code=exc.code or "character_rejected"
                                         ) from exc
                raise ServiceUnavailable("The upstream did not answer the character "
                                         "creation clearly; try again.",
                                         code="upstream_error") from exc
            return cand.channel.id, cand.credential_id, upstream_id
        raise ServiceUnavailable("No upstream could create the character right now"
                                 + (f" ({last.message})." if last else "."),
                                 code="upstream_unavailable")

"""Money and ownership of characters on a real database: a set price is reserved before
the upstream is asked and refunded when no upstream makes the character; a refusal that
certainly made nothing moves on to the next key; a character is its tenant's alone."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reelgate.auth.principal import Principal
from reelgate.billing import ledger
from reelgate.billing.errors import InsufficientQuota
from reelgate.bootstrap import Gateway
from reelgate.characters.service import CharacterService
from reelgate.errors import InvalidRequest, NotFound, ServiceUnavailable
from reelgate.providers.base import Credential, ErrorKind, UpstreamError
from reelgate.routing import channels as chrepo
from reelgate.scheduler.directory import ChannelDirectory
from tests.billing.support import make_principal

PRICE = 50_000


@dataclass
class Maker:
    """A provider that makes characters with scripted answers, recording each call."""

    answers: list[str | UpstreamError] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    name: str = "maker"
    supports_remix: bool = False

    async def create_character(self, name: str, clip: Path, credential: Credential) -> str:
        self.calls.append((name, credential.secret))
        answer = self.answers.pop(0)
        if isinstance(answer, UpstreamError):
            raise answer
        return answer

    async def aclose(self) -> None:
        pass


@pytest.fixture()
async def service(gw: Gateway, tmp_path: Path) -> AsyncIterator[tuple[CharacterService, Maker]]:
    maker = Maker()
    async with gw.db.begin() as conn:  # this test's channel is the only enabled one
        for channel in await chrepo.list_channels(conn):
            await chrepo.set_channel(conn, channel.id, enabled=False)
        cid = await chrepo.add_channel(conn, name=f"chars-{secrets.token_hex(3)}",
                                       provider="openai", base_url="https://up.invalid/v1")
        for i in range(2):
            await chrepo.add_credential(conn, gw.box, cid, f"sk-char-{i}", f"k{i}")
    directory = ChannelDirectory(gw.db, gw.box, gw.settings, factory=lambda _: maker, ttl=0.0)
    settings = dataclasses.replace(gw.settings, character_price_micros=PRICE)
    yield CharacterService(gw.db, directory, settings), maker
    await directory.aclose()


async def _entries(gw: Gateway, who: Principal) -> list[tuple[str, int]]:
    async with gw.db.read() as conn:
        found, _ = await ledger.page(conn, who.tenant_id, after=None, limit=50)
    return [(e.kind.value, e.amount_micros) for e in reversed(found)]


def _clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"any clip: the upstream judges it")
    return path


async def test_a_set_price_is_reserved_and_kept(gw: Gateway, service: Any,
                                                tmp_path: Path) -> None:
    chars, maker = service
    who = await make_principal(gw, topup=120_000)
    maker.answers = ["up_char_1"]
    made = await chars.create(who, "Pip", _clip(tmp_path))
    assert (made.name, made.upstream_id, made.price_micros) == ("Pip", "up_char_1", PRICE)
    assert await _entries(gw, who) == [("topup", 120_000), ("reserve", -PRICE)]
    assert (await chars.get(who, made.id)).id == made.id


async def test_no_upstream_makes_it_and_the_money_comes_back(gw: Gateway, service: Any,
                                                             tmp_path: Path) -> None:
    chars, maker = service
    who = await make_principal(gw, topup=120_000)
    maker.answers = [UpstreamError(ErrorKind.RATE_LIMITED, "slow down", status_code=429),
                     UpstreamError(ErrorKind.UNAVAILABLE, "down", status_code=503)]
    with pytest.raises(ServiceUnavailable):
        await chars.create(who, "Pip", _clip(tmp_path))
    assert sorted(secret for _, secret in maker.calls) == ["sk-char-0", "sk-char-1"]
    assert await _entries(gw, who) == [("topup", 120_000), ("reserve", -PRICE),
                                       ("refund", PRICE)]


async def test_a_refusal_is_a_400_and_refunded(gw: Gateway, service: Any,
                                               tmp_path: Path) -> None:
    chars, maker = service
    who = await make_principal(gw, topup=120_000)
    maker.answers = [UpstreamError(ErrorKind.REJECTED, "a human face", code="moderation")]
    with pytest.raises(InvalidRequest) as err:
        await chars.create(who, "Pip", _clip(tmp_path))
    assert err.value.code == "moderation" and len(maker.calls) == 1
    assert await _entries(gw, who) == [("topup", 120_000), ("reserve", -PRICE),
                                       ("refund", PRICE)]


async def test_a_rate_limited_key_moves_on_to_the_next(gw: Gateway, service: Any,
                                                       tmp_path: Path) -> None:
    chars, maker = service
    who = await make_principal(gw, topup=120_000)
    maker.answers = [UpstreamError(ErrorKind.RATE_LIMITED, "slow down", status_code=429),
                     "up_char_2"]
    made = await chars.create(who, "Pip", _clip(tmp_path))
    assert made.upstream_id == "up_char_2" and len(maker.calls) == 2
    assert maker.calls[0][1] != maker.calls[1][1]


async def test_without_the_money_nothing_is_asked(gw: Gateway, service: Any,
                                                  tmp_path: Path) -> None:
    chars, maker = service
    who = await make_principal(gw, topup=10_000)
    with pytest.raises(InsufficientQuota):
        await chars.create(who, "Pip", _clip(tmp_path))
    assert maker.calls == []
    assert await _entries(gw, who) == [("topup", 10_000)]


async def test_a_character_is_its_tenants_alone(gw: Gateway, service: Any,
                                                tmp_path: Path) -> None:
    chars, maker = service
    owner, stranger = await make_principal(gw, topup=PRICE), await make_principal(gw)
    maker.answers = ["up_char_3"]
    made = await chars.create(owner, "Pip", _clip(tmp_path))
    with pytest.raises(NotFound):
        await chars.get(stranger, made.id)
    with pytest.raises(NotFound) as err:
        await chars.refs(stranger, (made.id,))
    assert err.value.param == "characters"
    [ref] = await chars.refs(owner, (made.id,))
    assert (ref.upstream_id, ref.channel_id) == ("up_char_3", made.channel_id)

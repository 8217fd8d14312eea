"""Money for characters: creating one costs ``character_price_micros`` (nothing unless
the operator sets a price), reserved before the upstream is asked and given back in
full if it fails, like a job's reservation.

Entry keys ``reserve:<char id>`` and ``refund:<char id>`` make a replay a no-op; a
refund is only ever posted against a reservation that exists and was not refunded.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.auth.principal import Principal
from reelgate.billing import ledger
from reelgate.billing.errors import InsufficientQuota, SpendCapExceeded
from reelgate.billing.hooks import add_spend
from reelgate.billing.ledger import Kind
from reelgate.billing.money import format_usd

__all__ = ["refund_character", "reserve_character"]


async def reserve_character(conn: AsyncConnection, principal: Principal, character_id: str,
                            price: int, name: str) -> None:
    """Debit ``price`` for a character about to be made (raises, rolling back, if the
    balance or the key's spend cap does not cover it)."""
    if price <= 0:
        return
    funded = await ledger.debit_if_funded(
        conn, principal.tenant_id, Kind.RESERVE, price, f"reserve:{character_id}",
        key_id=principal.key_id, note=f"character {name!r}")
    if funded is False:
        raise InsufficientQuota(f"You exceeded your current quota: a character costs "
                                f"{format_usd(price)} and the balance does not cover it.")
    if not await add_spend(conn, principal.key_id, price, enforce_cap=True):
        raise SpendCapExceeded(f"A character costs {format_usd(price)}, which would exceed "
                               "the API key's spend cap.")


async def refund_character(conn: AsyncConnection, principal: Principal, character_id: str,
                           price: int) -> None:
    """Give a failed character's reservation back (once)."""
    if price <= 0 or await ledger.get_entry(conn, f"reserve:{character_id}") is None:
        return
    if await ledger.post(conn, principal.tenant_id, Kind.REFUND, price,
                         f"refund:{character_id}", key_id=principal.key_id,
                         note="character not created: not billed"):
        await add_spend(conn, principal.key_id, -price, enforce_cap=False)

"""``reelgate tenants`` and ``reelgate prices``: balances, top-ups, per-second prices.

Amounts are typed as decimal USD strings (``10``, ``0.10``) and converted to integer
micro-USD without passing through a float. A negative amount after a positional
argument needs ``--`` first: ``reelgate tenants adjust acme -- -5``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.table import Table

from reelgate.auth.records import TenantRecord
from reelgate.billing import tenants
from reelgate.billing.ledger import Kind, Verification
from reelgate.billing.money import format_usd, parse_ppm, parse_usd, usd_str
from reelgate.billing.prices import PriceRow
from reelgate.billing.service import LedgerPage
from reelgate.bootstrap import Gateway
from reelgate.cli.common import run_with_gateway
from reelgate.cli.output import make_console

__all__ = ["prices_app", "register", "tenants_app"]

tenants_app = typer.Typer(no_args_is_help=True)
prices_app = typer.Typer(no_args_is_help=True)
console = make_console()
T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.add_typer(tenants_app, name="tenants",
                  help="Tenants: billing mode, balance, top-ups, ledger.")
    app.add_typer(prices_app, name="prices", help="Per-second prices by model and size.")


def _run(fn: Callable[[Gateway], Awaitable[T]], *, writes: bool = False) -> T:
    """Run against the gateway; a refused request becomes a message and exit code 1."""
    return run_with_gateway(fn, writes=writes)


def _usd(text: str, what: str = "amount") -> int:
    try:
        return parse_usd(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=what) from exc


def _ppm(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_ppm(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--multiplier") from exc


def _describe(t: TenantRecord) -> str:
    return (f"{t.name} ({t.id}): {tenants.mode(t)}, balance {format_usd(t.balance_micros)}, "
            f"price multiplier {usd_str(t.price_multiplier_ppm)}")


# --- tenants -----------------------------------------------------------------------


@tenants_app.command("create")
def create(
    name: str = typer.Argument(..., help="The tenant's name (also usable as --tenant)."),
    prepaid: bool = typer.Option(False, "--prepaid",
                                 help="Refuse creates the balance cannot cover."),
    balance: str | None = typer.Option(None, "--balance",
                                       help="Opening top-up in USD; implies --prepaid."),
    multiplier: str | None = typer.Option(None, "--multiplier",
                                          help="Price multiplier, e.g. 0.8 or 1.25."),
) -> None:
    """Create a tenant: postpaid (charges recorded, never refused) unless --prepaid."""
    opening = _usd(balance, "--balance") if balance is not None else 0
    ppm = _ppm(multiplier)

    async def go(gw: Gateway) -> TenantRecord:
        return await gw.tenants.create(name, prepaid=prepaid, opening_micros=opening,
                                       multiplier_ppm=ppm)

    console.print(f"Created tenant {_describe(_run(go, writes=True))}.", highlight=False)


@tenants_app.command("set")
def set_(
    name: str = typer.Argument(...),
    prepaid: bool | None = typer.Option(None, "--prepaid/--postpaid",
                                        help="Switch the billing mode."),
    multiplier: str | None = typer.Option(None, "--multiplier"),
) -> None:
    """Change a tenant's billing mode or price multiplier."""
    ppm = _ppm(multiplier)

    async def go(gw: Gateway) -> TenantRecord:
        return await gw.tenants.update(name, prepaid=prepaid, multiplier_ppm=ppm)

    console.print(f"Updated {_describe(_run(go, writes=True))}.", highlight=False)


def _credit(name: str, amount: str, kind: Kind, reference: str | None,
            note: str | None) -> None:
    micros = _usd(amount)

    async def go(gw: Gateway) -> tuple[tenants.Credit, TenantRecord]:
        return await gw.tenants.credit(name, micros, kind=kind, reference=reference, note=note)

    credit, ten = _run(go, writes=True)
    verb = "Posted" if credit.created else "Already posted (same reference), unchanged:"
    console.print(f"{verb} {kind.value} {format_usd(credit.entry.amount_micros)} to "
                  f"{ten.name}; balance now {format_usd(ten.balance_micros)}.",
                  highlight=False)


@tenants_app.command("topup")
def topup(
    name: str = typer.Argument(...),
    amount: str = typer.Argument(..., help="USD, e.g. 25 or 9.99."),
    reference: str | None = typer.Option(None, "--reference",
                                         help="External payment id: posting it twice "
                                              "credits once."),
    note: str | None = typer.Option(None, "--note"),
) -> None:
    """Add money to a tenant's balance."""
    _credit(name, amount, Kind.TOPUP, reference, note)


@tenants_app.command("adjust")
def adjust(
    name: str = typer.Argument(...),
    amount: str = typer.Argument(..., help="USD, either sign (use -- before a negative)."),
    note: str = typer.Option(..., "--note", help="Why; kept in the ledger."),
    reference: str | None = typer.Option(None, "--reference"),
) -> None:
    """Correct a balance by hand with a ledger entry of kind 'adjustment'."""
    _credit(name, amount, Kind.ADJUSTMENT, reference, note)


@tenants_app.command("list")
def list_() -> None:
    """All tenants with mode, balance and multiplier."""

    async def go(gw: Gateway) -> list[TenantRecord]:
        return await gw.tenants.list_all()

    table = Table("id", "name", "mode", "balance", "multiplier")
    for t in _run(go):
        table.add_row(t.id, t.name, tenants.mode(t), format_usd(t.balance_micros),
                      usd_str(t.price_multiplier_ppm))
    console.print(table)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@tenants_app.command("show")
def show(
    name: str = typer.Argument(...),
    verify: bool = typer.Option(False, "--verify",
                                help="Check the cached balance against the ledger sum; "
                                     "exit 2 when they differ."),
    entries: int = typer.Option(10, "--ledger", min=0, max=100,
                                help="How many recent ledger entries to show."),
) -> None:
    """A tenant's balance and its most recent ledger entries."""

    async def go(gw: Gateway) -> tuple[TenantRecord, LedgerPage, Verification]:
        ten, check = await gw.tenants.verify(name)
        return ten, await gw.tenants.ledger(ten.id, limit=entries), check

    ten, page, check = _run(go)
    console.print(_describe(ten), highlight=False)
    if page.entries:
        table = Table("id", "when", "kind", "amount", "job", "note")
        for e in page.entries:
            table.add_row(str(e.id), _when(e.created_at), e.kind.value,
                          format_usd(e.amount_micros), e.job_id or "", e.note or "")
        console.print(table)
    if verify:
        if not check.ok:
            console.print(f"[red]MISMATCH: cached balance {format_usd(check.cached_micros)}"
                          f" but the ledger sums to {format_usd(check.ledger_micros)}.[/]",
                          highlight=False)
            raise typer.Exit(2)
        console.print(f"verified: cached balance = ledger sum = "
                      f"{format_usd(check.ledger_micros)}", highlight=False)


# --- prices ------------------------------------------------------------------------


@prices_app.command("list")
def prices_list(
    tenant: str | None = typer.Option(None, "--tenant",
                                      help="Show what this tenant pays (multiplier applied)."),
) -> None:
    """Per-second prices of every model and size, and where each comes from."""

    async def go(gw: Gateway) -> tuple[list[PriceRow], dict[str, dict[str, int]]]:
        return await gw.prices.table(tenant), await gw.prices.paid(tenant)

    rows, paid = _run(go)
    table = Table("model", "size", "base USD/s", "source", "paid USD/s (x multiplier)")
    for r in rows:
        table.add_row(r.model, r.size, usd_str(r.micros_per_second), r.source,
                      usd_str(paid[r.model][r.size]))
    console.print(table)


@prices_app.command("set")
def prices_set(
    model: str = typer.Argument(...),
    size: str = typer.Argument(..., help="e.g. 1280x720"),
    price: str = typer.Argument(..., help="USD per second, e.g. 0.10"),
    tenant: str | None = typer.Option(None, "--tenant", help="Only for this tenant."),
) -> None:
    """Set the per-second price of MODEL at SIZE, globally or for one tenant."""
    micros = _usd(price, "PRICE")

    async def go(gw: Gateway) -> PriceRow:
        return await gw.prices.set(model, size, micros, tenant)

    row = _run(go, writes=True)
    console.print(f"{row.model} {row.size}: {format_usd(row.micros_per_second)} per second "
                  f"({'tenant ' + (tenant or '') if row.tenant_id else 'global'}).",
                  highlight=False)


@prices_app.command("unset")
def prices_unset(
    model: str = typer.Argument(...),
    size: str = typer.Argument(...),
    tenant: str | None = typer.Option(None, "--tenant"),
) -> None:
    """Remove an override; the next level (global, then catalog) applies again."""

    async def go(gw: Gateway) -> PriceRow | None:
        return await gw.prices.unset(model, size, tenant)

    if _run(go, writes=True) is None:
        console.print(f"[red]No override for {model} {size}.[/]")
        raise typer.Exit(1)
    console.print(f"Removed the override for {model} {size}.")

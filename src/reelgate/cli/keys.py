"""``reelgate keys``: API keys are shown once, on the last line, and stored hashed."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import typer
from rich.table import Table

from reelgate.auth.records import KeyRecord
from reelgate.auth.service import KeyLimits
from reelgate.billing.money import parse_usd
from reelgate.bootstrap import Gateway
from reelgate.cli.common import run_with_gateway
from reelgate.cli.output import make_console
from reelgate.errors import ConflictError, NotFound
from reelgate.ids import now

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)
console = make_console()


def key_limits(models: str | None, spend_cap: str | None, max_in_flight: int | None,
               creates_per_minute: int | None, polls_per_minute: int | None,
               expires_in_days: float | None) -> KeyLimits:
    """A key's limits from the command-line options."""
    names = None
    if models is not None:
        names = [m.strip() for m in models.split(",") if m.strip()]
        if not names:
            raise typer.BadParameter(f"no model in {models!r}", param_hint="--models")
    cap = None
    if spend_cap is not None:
        try:
            cap = parse_usd(spend_cap)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--spend-cap") from exc
    expires_at = None if expires_in_days is None else now() + expires_in_days * 86400
    return KeyLimits(allowed_models=names, spend_cap_micros=cap, max_in_flight=max_in_flight,
                     creates_per_minute=creates_per_minute, polls_per_minute=polls_per_minute,
                     expires_at=expires_at)


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="A label for the key, unique in its tenant."),
    tenant: str = typer.Option("default", "--tenant", help="The tenant the key belongs to; it "
                               "must exist (`reelgate tenants create`) unless --create-tenant."),
    create_tenant: bool = typer.Option(False, "--create-tenant",
                                       help="Create the tenant (postpaid) if it does not exist."),
    models: str | None = typer.Option(None, "--models", help="Comma list of allowed models."),
    spend_cap: str | None = typer.Option(None, "--spend-cap", help="Max spend in USD."),
    max_in_flight: int | None = typer.Option(None, "--max-in-flight", min=1),
    creates_per_minute: int | None = typer.Option(None, "--creates-per-minute", min=1),
    polls_per_minute: int | None = typer.Option(None, "--polls-per-minute", min=1),
    expires_in_days: float | None = typer.Option(None, "--expires-in-days", min=0),
) -> None:
    """Create a key and print it (only this once)."""
    limits = key_limits(models, spend_cap, max_in_flight, creates_per_minute,
                        polls_per_minute, expires_in_days)

    async def go(gw: Gateway) -> str:
        allowed = limits.allowed_models
        if allowed is not None:  # the live catalog: operator-added models count; aliases
            unknown = [m for m in allowed if gw.catalog.get(m) is None]  # become the model
            if unknown:
                raise typer.BadParameter(f"unknown model(s): {', '.join(unknown)}",
                                         param_hint="--models")
            ids = list(dict.fromkeys(spec.id for m in allowed if (spec := gw.catalog.get(m))))
            chosen = replace(limits, allowed_models=ids)
        else:
            chosen = limits
        try:
            made = await gw.keys.create(tenant, name, chosen, create_tenant=create_tenant)
        except NotFound as exc:
            if exc.code == "tenant_not_found":
                exc.message += (f" (`reelgate tenants create {tenant}`, or add "
                                "--create-tenant)")
            raise
        return made.secret

    secret = run_with_gateway(go, writes=True)
    console.print(f"Created key [bold]{name}[/] for tenant [bold]{tenant}[/]. "
                  "Store it now: it is not shown again.", highlight=False)
    print(secret)


@app.command("list")
def list_() -> None:
    """List keys (prefixes only)."""

    async def go(gw: Gateway) -> list[KeyRecord]:
        return await gw.keys.list_all()

    table = Table("id", "name", "tenant", "prefix", "created", "status")
    for k in run_with_gateway(go):
        created = dt.datetime.fromtimestamp(k.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(k.id, k.name, k.tenant_name, k.prefix + "…", created,
                      "revoked" if k.revoked_at else "active")
    console.print(table)


@app.command("revoke")
def revoke(
    key: str = typer.Argument(..., help="Key id, name or displayed prefix."),
    tenant: str | None = typer.Option(None, "--tenant",
                                      help="Only this tenant's keys (when a name is in several)."),
) -> None:
    """Revoke a key; it stops working at once."""

    async def go(gw: Gateway) -> KeyRecord:
        try:
            return await gw.keys.revoke(key, tenant=tenant)
        except ConflictError as exc:
            exc.message = exc.message.replace("name the tenant", "pass --tenant")
            raise

    done = run_with_gateway(go, writes=True)
    console.print(f"Revoked {done.id} ({done.name}, tenant {done.tenant_name}).",
                  highlight=False)

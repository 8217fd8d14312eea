"""``reelgate keys``: API keys are shown once, on the last line, and stored hashed."""

from __future__ import annotations

import datetime as dt

import typer
from rich.console import Console
from rich.table import Table

from reelgate.auth import repository as auth_repo
from reelgate.bootstrap import Gateway
from reelgate.cli.common import run_with_gateway

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)
console = Console()


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="A label for the key."),
    tenant: str = typer.Option("default", "--tenant", help="The tenant the key belongs to."),
) -> None:
    """Create a key and print it (only this once)."""

    async def go(gw: Gateway) -> str:
        async with gw.db.begin() as conn:
            ten = await auth_repo.ensure_tenant(conn, tenant)
            _, secret = await auth_repo.create_key(conn, ten, name)
        return secret

    secret = run_with_gateway(go)
    console.print(f"Created key [bold]{name}[/] for tenant [bold]{tenant}[/]. "
                  "Store it now: it is not shown again.", highlight=False)
    print(secret)


@app.command("list")
def list_() -> None:
    """List keys (prefixes only)."""

    async def go(gw: Gateway) -> list[auth_repo.KeyRecord]:
        async with gw.db.read() as conn:
            return await auth_repo.list_keys(conn)

    table = Table("id", "name", "tenant", "prefix", "created", "status")
    for k in run_with_gateway(go):
        created = dt.datetime.fromtimestamp(k.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(k.id, k.name, k.tenant_name, k.prefix + "…", created,
                      "revoked" if k.revoked_at else "active")
    console.print(table)


@app.command("revoke")
def revoke(key: str = typer.Argument(..., help="Key id, name or prefix.")) -> None:
    """Revoke a key; it stops working at once."""

    async def go(gw: Gateway) -> bool:
        async with gw.db.begin() as conn:
            return await auth_repo.revoke_key(conn, key)

    if not run_with_gateway(go):
        console.print(f"[red]No single active key matches {key!r}.[/]")
        raise typer.Exit(1)
    console.print(f"Revoked {key}.")

"""``reelgate webhooks``: endpoints per tenant, the delivery log, and replays.

``add`` prints the signing secret once, on the last line, like ``keys create``.
"""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from reelgate.bootstrap import Gateway
from reelgate.cli.common import run_with_gateway
from reelgate.cli.output import make_console
from reelgate.webhooks.events import ALL_EVENTS, DEFAULT_EVENTS
from reelgate.webhooks.repository import Delivery, Endpoint

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)
# ids must stay whole when the output is piped: no 80-column wrapping off a terminal
console = make_console()


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command("add")
def add(
    url: str = typer.Argument(..., help="Where to POST events."),
    tenant: str = typer.Option("default", "--tenant", help="The tenant whose jobs it follows."),
    events: str = typer.Option(",".join(DEFAULT_EVENTS), "--events",
                               help=f"Comma list of {', '.join(ALL_EVENTS)}."),
    secret: str = typer.Option(None, "--secret", help="whsec_… (generated when omitted)."),
    allow_private: bool = typer.Option(False, "--allow-private",
                                       help="Allow loopback/private addresses (local dev)."),
) -> None:
    """Register an endpoint and print its signing secret (only this once)."""

    async def go(gw: Gateway) -> Endpoint:
        return await gw.webhooks.register(tenant=tenant, url=url, events=events, secret=secret,
                                          allow_private=allow_private)

    endpoint = run_with_gateway(go, writes=True)
    console.print(f"Added endpoint [bold]{endpoint.id}[/] for tenant [bold]{tenant}[/] "
                  f"({', '.join(endpoint.events)}). Signing secret:", highlight=False)
    print(endpoint.secret)


@app.command("list")
def list_(tenant: str = typer.Option(None, "--tenant", help="Only this tenant's.")) -> None:
    """List endpoints (secrets are not shown)."""

    async def go(gw: Gateway) -> list[Endpoint]:
        return await gw.webhooks.endpoints(tenant=tenant)

    endpoints = run_with_gateway(go)
    table = Table("id", "tenant", "url", "events", "private ok", "created")
    for e in endpoints:
        table.add_row(e.id, e.tenant_name, e.url, ",".join(e.events),
                      "yes" if e.allow_private else "no", _when(e.created_at))
    console.print(table)


@app.command("remove")
def remove(endpoint_id: str = typer.Argument(..., help="Endpoint id (we_…).")) -> None:
    """Remove an endpoint and its delivery log."""

    async def go(gw: Gateway) -> None:
        await gw.webhooks.remove(endpoint_id)

    run_with_gateway(go, writes=True)
    console.print(f"Removed {endpoint_id}.")


@app.command("rotate-secret")
def rotate_secret(
    endpoint_id: str = typer.Argument(..., help="Endpoint id (we_…)."),
    secret: str = typer.Option(None, "--secret", help="whsec_… (generated when omitted)."),
) -> None:
    """Give an endpoint a new signing secret and print it (only this once)."""

    async def go(gw: Gateway) -> Endpoint:
        return await gw.webhooks.rotate_secret(endpoint_id, secret)

    endpoint = run_with_gateway(go, writes=True)
    console.print(f"New signing secret for [bold]{endpoint.id}[/]; every delivery from now "
                  "on is signed with it:", highlight=False)
    print(endpoint.secret)


@app.command("deliveries")
def deliveries(
    status: str = typer.Option(None, "--status", help="pending, delivered, dead or replayed."),
    endpoint: str = typer.Option(None, "--endpoint", help="Only this endpoint's."),
    job: str = typer.Option(None, "--job", help="Only this video's."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
) -> None:
    """The delivery log, newest first; ``--status dead`` lists the dead letters."""

    async def go(gw: Gateway) -> list[Delivery]:
        return await gw.webhooks.deliveries(status=status, endpoint_id=endpoint, job_id=job,
                                            limit=limit)

    rows = run_with_gateway(go)
    table = Table("id", "event", "video", "status", "attempts", "last code", "last error",
                  "created", "next attempt")
    for d in rows:
        table.add_row(d.id, d.event_type, d.job_id or "-", d.status, str(d.attempts),
                      str(d.last_status_code or "-"), (d.last_error or "-")[:60],
                      _when(d.created_at), _when(d.next_attempt_at))
    console.print(table)


@app.command("replay")
def replay(delivery_id: str = typer.Argument(..., help="Delivery id (whd_…).")) -> None:
    """Send a dead (or delivered) delivery again, with a fresh retry window."""

    async def go(gw: Gateway) -> Delivery:
        return await gw.webhooks.replay(delivery_id)

    again = run_with_gateway(go, writes=True)
    console.print(f"Queued {delivery_id} again as:", highlight=False)
    print(again.id)

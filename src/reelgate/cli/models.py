"""``reelgate models``: the catalog at run time (list, show, add, update, alias, retire,
import, export). Changes go to the database and every process sees them within seconds.

Prices are USD per second as decimal strings (``--price 1920x1080=0.40``); durations a
list or a range (``--seconds 4,6,8``, ``--seconds 3-15``); a rule is
``--rule 1920x1080,1080x1920:8`` (those sizes only at 8 s) or ``--rule 16,20:1280x720``
(those durations only at that size).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.table import Table

from reelgate.bootstrap import Gateway
from reelgate.catalog import ModelState, doc_from_spec, usd_text
from reelgate.catalog.service import CatalogService, ModelChange, ModelRecord
from reelgate.catalog.toml_out import dumps
from reelgate.cli.common import run_with_gateway
from reelgate.cli.output import make_console

__all__ = ["app", "service"]

app = typer.Typer(no_args_is_help=True)
console = make_console()
T = TypeVar("T")


def service(gw: Gateway) -> CatalogService:
    return gw.models


def _run(fn: Callable[[Gateway], Awaitable[T]], *, writes: bool = False) -> T:
    """Run against the gateway; a refused change becomes a message and exit code 1."""
    return run_with_gateway(fn, writes=writes)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=what)
        out[key.strip()] = value.strip()
    return out


def _seconds(text: str) -> str | list[str]:
    text = text.strip()
    return text if "-" in text else [s.strip() for s in text.split(",") if s.strip()]


def _rule(text: str) -> dict[str, list[str]]:
    left, sep, right = text.partition(":")
    items = [s.strip() for s in left.split(",") if s.strip()]
    others = [s.strip() for s in right.split(",") if s.strip()]
    if not sep or not items or not others:
        raise typer.BadParameter(f"{text!r} is not SIZES:SECONDS or SECONDS:SIZES",
                                 param_hint="--rule")
    if all("x" in i for i in items):
        return {"when_sizes": items, "seconds": others}
    return {"when_seconds": items, "sizes": others}


def _fields(*, owned_by: str | None = None, description: str | None = None,
            quality: str | None = None, seconds: str | None = None,
            default_size: str | None = None, default_seconds: str | None = None,
            operations: str | None = None, upstream: list[str] | None = None,
            rules: list[str] | None = None, no_rules: bool = False,
            state: str | None = None, billing: str | None = None,
            max_render_seconds: int | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in (("owned_by", owned_by), ("description", description),
                       ("quality", quality), ("default_size", default_size),
                       ("default_seconds", default_seconds), ("state", state),
                       ("billing", billing), ("max_render_seconds", max_render_seconds)):
        if value is not None:
            fields[key] = value
    if seconds is not None:
        fields["seconds"] = _seconds(seconds)
    if operations is not None:
        fields["operations"] = [o.strip() for o in operations.split(",") if o.strip()]
    if upstream:
        fields["upstream"] = _pairs(upstream, "--upstream")
    if rules:
        fields["rules"] = [_rule(r) for r in rules]
    elif no_rules:
        fields["rules"] = []
    return fields


def _print(record: ModelRecord) -> None:
    spec = record.spec
    header = f"{spec.id}: {spec.state.value}, version {record.version}, {record.source}"
    if record.changed:
        header += f" (changed: {', '.join(record.changed)})"
    console.print(header, highlight=False)
    console.print(dumps({"models": {spec.id: doc_from_spec(spec)}},
                        sections=frozenset({"prices"})), highlight=False, markup=False)


SECONDS_HELP = "Durations: 4,8,12 or a range 3-15."
BILLING_HELP = ("video_seconds (prices per second of video) or render_seconds (per second "
                "of GPU time the upstream measured; needs --max-render-seconds).")
MAX_RENDER_HELP = "Render billing: GPU seconds a create reserves, the most a job is charged."
RULE_HELP = "SIZES:SECONDS (those sizes only at those durations) or SECONDS:SIZES."


@app.command("list")
def list_models(all_: bool = typer.Option(False, "--all", help="Hidden models too.")) -> None:
    """Every model: state, sizes, durations, prices and whether a channel serves it."""

    async def go(gw: Gateway) -> tuple[list[ModelRecord], set[str]]:
        records = await service(gw).records()
        served = await gw.availability.served(r.spec.id for r in records)
        return records, served

    records, served = _run(go)
    table = Table("model", "state", "available", "sizes", "seconds", "USD/s", "aliases",
                  "version")
    for rec in records:
        spec = rec.spec
        if spec.state is ModelState.HIDDEN and not all_:
            continue
        state = spec.state.value + (f" -> {spec.successor}" if spec.successor else "")
        low, high = min(spec.prices.values()), max(spec.prices.values())
        prices = usd_text(low) if low == high else f"{usd_text(low)}-{usd_text(high)}"
        seconds = (f"{spec.seconds[0]}-{spec.seconds[-1]}" if len(spec.seconds) > 3
                   else ",".join(spec.seconds))
        table.add_row(spec.id, state, "yes" if spec.id in served else "no",
                      str(len(spec.prices)), seconds, prices,
                      ", ".join(spec.aliases), str(rec.version))
    console.print(table)


@app.command("show")
def show(model: str = typer.Argument(..., help="A model id or alias.")) -> None:
    """One model in the catalog file format, with its version (for --if-version)."""
    _print(_run(lambda gw: service(gw).show(model)))


@app.command("add")
def add(
    model: str = typer.Argument(..., help="The new model's id."),
    file: Path | None = typer.Option(None, "--file", help="A TOML file with [models.MODEL]."),
    owned_by: str | None = typer.Option(None, "--owned-by"),
    price: list[str] = typer.Option([], "--price", help="SIZE=USD per second (repeat)."),
    seconds: str | None = typer.Option(None, "--seconds", help=SECONDS_HELP),
    default_size: str | None = typer.Option(None, "--default-size"),
    default_seconds: str | None = typer.Option(None, "--default-seconds"),
    description: str | None = typer.Option(None, "--description"),
    quality: str | None = typer.Option(None, "--quality"),
    operations: str | None = typer.Option(None, "--operations",
                                          help="e.g. create,image_reference"),
    upstream: list[str] = typer.Option([], "--upstream", help="PROVIDER=UPSTREAM_NAME"),
    rule: list[str] = typer.Option([], "--rule", help=RULE_HELP),
    alias: list[str] = typer.Option([], "--alias"),
    hidden: bool = typer.Option(False, "--hidden", help="Usable, but not listed."),
    billing: str | None = typer.Option(None, "--billing", help=BILLING_HELP),
    max_render_seconds: int | None = typer.Option(None, "--max-render-seconds",
                                                  help=MAX_RENDER_HELP),
) -> None:
    """Add a model (from flags, or a TOML table with --file)."""
    if file is not None:
        import tomllib

        data = tomllib.loads(file.read_text("utf-8"))
        doc = data.get("models", {}).get(model, data)
    else:
        doc = _fields(owned_by=owned_by, description=description, quality=quality,
                      seconds=seconds, default_size=default_size,
                      default_seconds=default_seconds, operations=operations,
                      upstream=upstream, rules=rule, state="hidden" if hidden else None,
                      billing=billing, max_render_seconds=max_render_seconds)
        doc["prices"] = _pairs(price, "--price")
        if alias:
            doc["aliases"] = alias
    _print(_run(lambda gw: service(gw).add(model, doc), writes=True))


@app.command("update")
def update(
    model: str = typer.Argument(...),
    price: list[str] = typer.Option([], "--price", help="SIZE=USD: set or add a size."),
    remove_size: list[str] = typer.Option([], "--remove-size"),
    seconds: str | None = typer.Option(None, "--seconds", help=SECONDS_HELP),
    default_size: str | None = typer.Option(None, "--default-size"),
    default_seconds: str | None = typer.Option(None, "--default-seconds"),
    description: str | None = typer.Option(None, "--description"),
    quality: str | None = typer.Option(None, "--quality"),
    operations: str | None = typer.Option(None, "--operations"),
    upstream: list[str] = typer.Option([], "--upstream", help="PROVIDER=UPSTREAM_NAME"),
    rule: list[str] = typer.Option([], "--rule", help=RULE_HELP + " Replaces all rules."),
    no_rules: bool = typer.Option(False, "--no-rules", help="Drop every rule."),
    state: str | None = typer.Option(None, "--state", help="active, hidden or retired"),
    billing: str | None = typer.Option(None, "--billing", help=BILLING_HELP),
    max_render_seconds: int | None = typer.Option(None, "--max-render-seconds",
                                                  help=MAX_RENDER_HELP),
    reset: list[str] = typer.Option([], "--reset", help="A field back to the shipped value."),
    if_version: int | None = typer.Option(None, "--if-version",
                                          help="Refuse if someone changed it since."),
) -> None:
    """Change some fields of a model; the others stay as the newest version has them."""
    fields: dict[str, Any] = _fields(
        description=description, quality=quality, seconds=seconds, default_size=default_size,
        default_seconds=default_seconds, operations=operations, upstream=upstream,
        rules=rule, no_rules=no_rules, state=state, billing=billing,
        max_render_seconds=max_render_seconds)
    fields.update({name: None for name in reset})
    change = ModelChange(fields=fields, set_prices=_pairs(price, "--price"),
                         remove_sizes=remove_size)
    _print(_run(lambda gw: service(gw).update(model, change, expected_version=if_version),
                writes=True))


@app.command("alias")
def alias_cmd(model: str = typer.Argument(...), alias: str = typer.Argument(...),
              remove: bool = typer.Option(False, "--remove")) -> None:
    """Add (or --remove) another name for a model, e.g. a dated snapshot."""
    _print(_run(lambda gw: service(gw).alias(model, alias, remove=remove), writes=True))


@app.command("retire")
def retire(
    model: str = typer.Argument(...),
    message: str = typer.Option("", "--message", help="What clients are told."),
    successor: str | None = typer.Option(None, "--successor",
                                         help="Creates for MODEL run on this one instead."),
) -> None:
    """Retire a model: creates are refused, or redirected to --successor."""
    _print(_run(lambda gw: service(gw).retire(model, message=message, successor=successor),
                writes=True))


@app.command("import")
def import_cmd(
    file: str = typer.Argument(..., help="A catalog TOML file, or - for stdin."),
) -> None:
    """Each model in the file becomes exactly as written; others are left as they are."""
    text = sys.stdin.read() if file == "-" else Path(file).read_text("utf-8")
    changed = _run(lambda gw: service(gw).import_text(text), writes=True)
    console.print(f"Imported {len(changed)} model(s): {', '.join(changed)}", highlight=False)


@app.command("export")
def export(out: Path | None = typer.Option(None, "--out", help="Write here, not stdout.")) -> None:
    """The merged catalog in the file format `import` reads (keep it in git)."""
    text = _run(lambda gw: service(gw).export_text())
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, "utf-8")


"""``reelgate channels``: upstream channels and their keys.

Keys are read from ``--key`` or, to keep them out of shell history and ``ps``, from
standard input with ``--key-stdin`` (one per line). They are stored encrypted and
only ever printed masked. The rules live in :mod:`reelgate.routing.rules`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

import typer
from rich.table import Table

from reelgate.bootstrap import Gateway
from reelgate.cli.common import fail, run_with_gateway
from reelgate.cli.output import make_console
from reelgate.errors import APIError
from reelgate.providers.registry import provider_names
from reelgate.routing.manage import ChannelChanges, ChannelDraft, ChannelView
from reelgate.routing.probe import KeyCheck
from reelgate.routing.specs import parse_models, parse_options

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)
console = make_console()

_PROVIDERS_HELP = f"One of: {', '.join(provider_names())}."
_MODELS_HELP = ("Public model served, optionally mapped to the upstream's name: "
                "'sora-2' or 'veo-3.1=veo-3.1-generate-preview' (repeat; '*' = all).")


def _options(pairs: list[str], **named: Any) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in named.items() if v is not None}
    try:
        out.update(parse_options(pairs))
    except APIError as exc:
        _die(exc.message)
    return out


def _keys(keys: list[str], from_stdin: bool) -> list[str]:
    found = list(keys)
    if from_stdin:
        found.extend(line.strip() for line in sys.stdin if line.strip())
    return found


def _die(message: str, code: int = 1) -> None:
    fail(message, code)


def _run(fn: Any, *, writes: bool = False) -> Any:
    """Run against the gateway; an invalid request is an error message, not a traceback."""
    return run_with_gateway(fn, writes=writes)


def _when(ts: float | None) -> str:
    if not ts or ts < dt.datetime.now(dt.UTC).timestamp():
        return ""
    return "until " + dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S")


def _print_views(views: list[ChannelView]) -> None:
    table = Table("name", "provider", "base_url", "models", "prio", "weight", "max", "state",
                  "running", "keys")
    for v in views:
        ch = v.channel
        models = ", ".join(k if k == val else f"{k}→{val}" for k, val in ch.models.items())
        keys = "\n".join(f"{k.label} {k.masked}" + ("" if k.enabled else " (removed)")
                         + (f" cooling {_when(k.cooldown_until)}" if _when(k.cooldown_until)
                            else "") for k in v.keys)
        state = ("enabled" if ch.enabled else "disabled") + (
            "\nprivate network" if ch.options.get("allow_private_network") else "")
        if _when(ch.cooldown_until):
            state += f"\ncooling {_when(ch.cooldown_until)}"
        mode = ch.options.get("mode")
        table.add_row(ch.name, ch.provider + (f" ({mode})" if mode else ""), ch.base_url,
                      models, str(ch.priority), str(ch.weight), str(ch.max_concurrent or "-"),
                      state, str(v.active_jobs), keys or "-")
    console.print(table)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="A unique name for the channel."),
    provider: str = typer.Option(..., "--provider", help=_PROVIDERS_HELP),
    base_url: str = typer.Option("", "--base-url", help="e.g. https://api.openai.com/v1"),
    key: list[str] = typer.Option([], "--key", help="An upstream key (repeat for several)."),
    key_stdin: bool = typer.Option(False, "--key-stdin", help="Read keys from stdin."),
    model: list[str] = typer.Option([], "--model", help=_MODELS_HELP),
    priority: int = typer.Option(0, "--priority", help="Higher is tried first."),
    weight: int = typer.Option(1, "--weight", help="Share of jobs within a priority."),
    max_concurrent: int = typer.Option(0, "--max-concurrent", help="0 = no cap."),
    mode: str = typer.Option(None, "--mode",
                             help="openai provider: openai, azure, relay or omni."),
    api_version: str = typer.Option(None, "--api-version", help="azure: api-version."),
    read_timeout: float = typer.Option(None, "--read-timeout", help="Seconds."),
    option: list[str] = typer.Option([], "--option", help="Other option KEY=VALUE."),
    disabled: bool = typer.Option(False, "--disabled", help="Create it disabled."),
) -> None:
    """Add a channel (an upstream endpoint with its keys and model map)."""
    draft = ChannelDraft(
        name=name, provider=provider, base_url=base_url, keys=_keys(key, key_stdin),
        models=parse_models(model), priority=priority, weight=weight,
        max_concurrent=max_concurrent, enabled=not disabled,
        options=_options(option, mode=mode, api_version=api_version,
                         read_timeout=read_timeout))

    async def go(gw: Gateway) -> ChannelView:
        return await gw.channels.create(draft)

    shown = _run(go, writes=True)
    console.print(f"Added channel [bold]{name}[/] ({len(shown.keys)} key(s)). "
                  f"Check it with: reelgate channels test {name}", highlight=False)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List channels, their keys (masked) and their running jobs."""

    async def go(gw: Gateway) -> list[ChannelView]:
        return await gw.channels.views()

    views = _run(go)
    if as_json:
        print(json.dumps([v.as_dict() for v in views], indent=2))
    else:
        _print_views(views)


@app.command("update")
def update(
    ref: str = typer.Argument(..., help="Channel name or id."),
    name: str = typer.Option(None, "--name", help="Rename it."),
    base_url: str = typer.Option(None, "--base-url"),
    model: list[str] = typer.Option([], "--model", help=_MODELS_HELP + " Replaces the map."),
    priority: int = typer.Option(None, "--priority"),
    weight: int = typer.Option(None, "--weight"),
    max_concurrent: int = typer.Option(None, "--max-concurrent"),
    mode: str = typer.Option(None, "--mode"),
    api_version: str = typer.Option(None, "--api-version"),
    read_timeout: float = typer.Option(None, "--read-timeout"),
    option: list[str] = typer.Option([], "--option", help="KEY=VALUE (merged)."),
) -> None:
    """Change a channel. Jobs already running on it are not affected."""
    opts = _options(option, mode=mode, api_version=api_version, read_timeout=read_timeout)
    changes = ChannelChanges(name=name, base_url=base_url, models=parse_models(model),
                             priority=priority, weight=weight, max_concurrent=max_concurrent,
                             options=opts or None)

    async def go(gw: Gateway) -> ChannelView:
        return await gw.channels.update(ref, changes)

    _run(go, writes=True)
    console.print(f"Updated channel [bold]{name or ref}[/].", highlight=False)


def _set_enabled(ref: str, enabled: bool) -> None:
    async def go(gw: Gateway) -> ChannelView:
        return await gw.channels.set_enabled(ref, enabled)

    _run(go, writes=True)
    word = "takes new jobs again" if enabled else \
        "takes no new jobs; its running jobs finish on it"
    console.print(f"Channel [bold]{ref}[/] {word}.", highlight=False)


@app.command("disable")
def disable(ref: str = typer.Argument(..., help="Channel name or id.")) -> None:
    """Stop routing new jobs to a channel (running jobs still finish there)."""
    _set_enabled(ref, False)


@app.command("enable")
def enable(ref: str = typer.Argument(..., help="Channel name or id.")) -> None:
    """Route new jobs to a channel again."""
    _set_enabled(ref, True)


@app.command("add-key")
def add_key(
    ref: str = typer.Argument(..., help="Channel name or id."),
    key: str = typer.Option(None, "--key", help="The key (or use --key-stdin)."),
    key_stdin: bool = typer.Option(False, "--key-stdin", help="Read the key from stdin."),
    label: str = typer.Option("", "--label", help="A name for the key."),
) -> None:
    """Add a key to a channel; new jobs spread over its keys."""
    keys = _keys([key] if key else [], key_stdin)
    if len(keys) != 1:
        _die("Give exactly one key, with --key or on stdin with --key-stdin.")

    async def go(gw: Gateway) -> str:
        info = await gw.channels.add_key(ref, keys[0], label)
        return f"{info.label} {info.masked}"

    console.print(f"Added key {_run(go, writes=True)} to [bold]{ref}[/].", highlight=False)


@app.command("remove-key")
def remove_key(
    ref: str = typer.Argument(..., help="Channel name or id."),
    key: str = typer.Argument(..., help="Key id or label."),
    purge: bool = typer.Option(False, "--purge", help="Delete it if no job refers to it."),
) -> None:
    """Take a key out of routing; jobs it created keep using it until they finish."""

    async def go(gw: Gateway) -> str:
        return await gw.channels.remove_key(ref, key, purge=purge)

    outcome = _run(go, writes=True)
    note = "" if outcome == "deleted" else " (kept for the follow-ups of jobs it created)"
    console.print(f"Key {key} of [bold]{ref}[/] {outcome}{note}.", highlight=False)


@app.command("test")
def test(
    ref: str = typer.Argument(..., help="Channel name or id."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Check a channel live: reachable base URL, valid keys. Exit 1 if anything fails."""

    async def go(gw: Gateway) -> list[KeyCheck]:
        return await gw.channels.test(ref)

    results: list[KeyCheck] = _run(go)
    if as_json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for r in results:
            who = f"{r.label} {r.key}".strip() or ref
            mark = (f"[green]ok[/]{'' if r.message == 'ok' else ': ' + r.message}" if r.ok
                    else f"[red]FAILED[/] {r.problem}: {r.message}")
            console.print(f"{who}: {mark} ({r.seconds * 1000:.0f} ms)", highlight=False)
    if not all(r.ok for r in results):
        raise typer.Exit(1)

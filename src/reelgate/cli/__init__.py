"""The ``reelgate`` command: each sub-command group lives in its own module."""

from __future__ import annotations

import typer

from reelgate import __version__
from reelgate.cli import (
    backup,
    billing,
    channels,
    demo,
    keys,
    models,
    serve,
    webhooks,
    workflows,
)

__all__ = ["app", "main"]

app = typer.Typer(help="reelgate: an OpenAI-compatible video generation gateway.",
                  no_args_is_help=True, add_completion=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reelgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """reelgate: an OpenAI-compatible video generation gateway."""


serve.register(app)
demo.register(app)
app.add_typer(keys.app, name="keys", help="Create, list and revoke API keys.")
billing.register(app)
app.add_typer(webhooks.app, name="webhooks", help="Webhook endpoints, deliveries, replays.")
app.add_typer(channels.app, name="channels", help="Upstream channels, their keys and checks.")
backup.register(app)
app.add_typer(workflows.app, name="workflows", help="ComfyUI workflows per model (comfyui).")
app.add_typer(models.app, name="models", help="The model catalog: list, add, update, retire.")


def main() -> None:
    app()

"""ComfyUI channels for the upstream tests, registered the way an operator does it:
the channel through the admin API, its workflows with ``reelgate workflows add``."""

from __future__ import annotations

import json
import secrets
import tempfile
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reelgate.cli import app as reelgate_cli
from tests.support.comfyui import MODEL, workflows_option
from tests.support.server import GatewayProcess
from tests.upstreams.support import Admin, Upstream, gateway_env


def cli(gw: GatewayProcess, *args: str) -> tuple[int, str]:
    """A ``reelgate`` command on the gateway's database, in this process."""
    result = CliRunner().invoke(reelgate_cli, list(args),
                                env={**gateway_env(gw), "COLUMNS": "200"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def register(gw: GatewayProcess, channels: str, workflows: dict[str, Any]) -> None:
    """``workflows add`` each registration of ``workflows`` (model -> kind -> option)."""
    with tempfile.TemporaryDirectory() as tmp:
        for model, kinds in workflows.items():
            for kind, option in kinds.items():
                path = Path(tmp) / f"{kind}.json"
                path.write_text(json.dumps(option))
                code, out = cli(gw, "workflows", "add", channels, model, "--file", str(path))
                assert code == 0, out


def comfy_channel(gw: GatewayProcess, admin: Admin, up: Upstream, *,
                  workflows: dict[str, Any] | None = None, base_url: str | None = None,
                  **fields: Any) -> dict[str, Any]:
    name = fields.pop("name", None) or f"comfy-{secrets.token_hex(3)}"
    channel = admin.add_channel(up, name=name, base_url=base_url,
                                models={MODEL: MODEL}, **fields)
    register(gw, name, workflows or workflows_option())
    return channel

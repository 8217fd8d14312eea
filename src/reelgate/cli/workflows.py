"""``reelgate workflows``: the ComfyUI workflow each model runs on a ``comfyui`` channel.

A workflow is ComfyUI's "Export (API)" JSON plus a mapping of reelgate's parameters
to node inputs, checked here (:mod:`reelgate.providers.comfyui.workflow`) before it
is stored in the channel's options. ``CHANNEL`` may list several channels
(``gpu1,gpu2,gpu3``) to register the same workflow on every server of a farm.

    reelgate workflows add gpu1 wan-2.2-local --file wan22_t2v.json \\
        --mapping wan22_t2v.mapping.json
    reelgate workflows add gpu1 wan-2.2-local --file wf.json --map prompt=6.inputs.text \\
        --map width=55.inputs.width --map height=55.inputs.height \\
        --map frames=55.inputs.length --map fps=57.inputs.fps --frame-step 4 --frame-offset 1
    reelgate workflows list [CHANNEL] | show CHANNEL MODEL [--kind image] | remove ...
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from reelgate.bootstrap import Gateway
from reelgate.cli.common import run_with_gateway
from reelgate.cli.output import make_console
from reelgate.providers.comfyui.workflow import (
    KINDS,
    Registration,
    WorkflowError,
    build_registration,
)
from reelgate.routing.manage import ChannelChanges, ChannelService, ChannelView

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)
console = make_console()

_MAP_HELP = ("PARAM=NODE.inputs.NAME (repeat; several inputs: PARAM=A,B). PARAM is one of "
             "prompt, negative_prompt, width, height, frames, seconds, fps, seed, image.")


def _die(message: str) -> None:
    console.print(f"[red]{message}[/]", highlight=False)
    raise typer.Exit(1)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        _die(f"cannot read {path}: {exc}")


def _registration(file: Path, mapping: Path | None, maps: list[str], output_node: str | None,
                  fps: float | None, frame_step: int | None,
                  frame_offset: int | None) -> Registration:
    """A full registration file, or a workflow plus a mapping file and/or ``--map``s."""
    loaded = _json(file)
    base: dict[str, Any] = {}
    if isinstance(loaded, dict) and "workflow" in loaded and "inputs" in loaded:
        base, workflow = dict(loaded), loaded["workflow"]
    else:
        workflow = loaded
    if mapping is not None:
        extra = _json(mapping)
        if not isinstance(extra, dict):
            _die(f"{mapping} must be a JSON object with 'inputs'")
        base.update(extra)
    inputs = dict(base.get("inputs") or {})
    for item in maps:
        param, sep, paths = item.partition("=")
        if not sep or not param.strip() or not paths.strip():
            _die(f"--map takes PARAM=NODE.inputs.NAME, got {item!r}")
        split = [p.strip() for p in paths.split(",") if p.strip()]
        inputs[param.strip()] = split[0] if len(split) == 1 else split
    options = {"output_node": output_node, "fps": fps, "frame_step": frame_step,
               "frame_offset": frame_offset}
    base.update({k: v for k, v in options.items() if v is not None})
    try:
        return build_registration(workflow, inputs, output_node=base.get("output_node"),
                                  fps=base.get("fps"), frame_step=base.get("frame_step", 1),
                                  frame_offset=base.get("frame_offset", 0))
    except WorkflowError as exc:
        _die(f"workflow not registered: {exc}")
        raise


def _run(fn: Any, *, writes: bool = False) -> Any:
    return run_with_gateway(fn, writes=writes)


async def _comfy(service: ChannelService, ref: str) -> ChannelView:
    shown = await service.view(ref)
    if shown.channel.provider != "comfyui":
        _die(f"channel {shown.channel.name} is a {shown.channel.provider} channel; workflows "
             f"belong to comfyui channels")
    return shown


def _service(gw: Gateway) -> ChannelService:
    return gw.channels


@app.command("add")
def add(
    channel: str = typer.Argument(..., help="Channel name(s), comma-separated for a farm."),
    model: str = typer.Argument(..., help="Public model, e.g. wan-2.2-local."),
    file: Path = typer.Option(..., "--file", help="API-format workflow JSON (Export (API))."),
    mapping: Path = typer.Option(None, "--mapping", help="JSON with inputs, output_node, fps..."),
    map_: list[str] = typer.Option([], "--map", help=_MAP_HELP),
    output_node: str = typer.Option(None, "--output-node", help="Node that saves the video."),
    fps: float = typer.Option(None, "--fps", help="Frames per second (frames = seconds x fps)."),
    frame_step: int = typer.Option(None, "--frame-step", help="Frames = step x n + offset."),
    frame_offset: int = typer.Option(None, "--frame-offset", help="E.g. Wan: step 4, offset 1."),
) -> None:
    """Register (or replace) the workflow a model runs; image-to-video if it maps 'image'."""
    reg = _registration(file, mapping, map_, output_node, fps, frame_step, frame_offset)

    async def go(gw: Gateway) -> list[str]:
        service = _service(gw)
        done = []
        for ref in [r.strip() for r in channel.split(",") if r.strip()]:
            ch = (await _comfy(service, ref)).channel
            upstream = ch.models.get(model, model)
            workflows = copy.deepcopy(ch.options.get("workflows") or {})
            workflows.setdefault(upstream, {})[reg.kind] = reg.as_option()
            await service.update(ref, ChannelChanges(
                options={"workflows": workflows}, models={**ch.models, model: upstream}))
            done.append(ch.name)
        return done

    names = _run(go, writes=True)
    console.print(f"Registered the {reg.kind}-to-video workflow of [bold]{model}[/] on "
                  f"{', '.join(names)} (output node {reg.output_node}, "
                  f"{', '.join(sorted(reg.inputs))}).", highlight=False)


@app.command("list")
def list_(channel: str = typer.Argument(None, help="Only this channel."),
          as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """The workflows registered on comfyui channels."""

    async def go(gw: Gateway) -> list[dict[str, Any]]:
        views = await _service(gw).views()
        rows = []
        for v in views:
            if v.channel.provider != "comfyui" or channel not in (None, v.channel.name):
                continue
            for model, kinds in (v.channel.options.get("workflows") or {}).items():
                for kind, data in kinds.items():
                    rows.append({"channel": v.channel.name, "model": model, "kind": kind,
                                 "output_node": data.get("output_node"), "fps": data.get("fps"),
                                 "inputs": data.get("inputs", {})})
        return rows

    rows = _run(go)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("channel", "model", "kind", "output", "fps", "inputs")
    for r in rows:
        inputs = ", ".join(f"{k}={v}" for k, v in r["inputs"].items())
        table.add_row(r["channel"], r["model"], r["kind"], str(r["output_node"]), str(r["fps"]),
                      inputs)
    console.print(table)


def _kind(kind: str) -> str:
    if kind not in KINDS:
        _die(f"--kind is one of {', '.join(KINDS)}")
    return kind


@app.command("show")
def show(channel: str = typer.Argument(...), model: str = typer.Argument(...),
         kind: str = typer.Option("text", "--kind", help="text or image.")) -> None:
    """Print a registration as JSON (a --file for `workflows add` elsewhere)."""

    async def go(gw: Gateway) -> Any:
        ch = (await _comfy(_service(gw), channel)).channel
        return (ch.options.get("workflows") or {}).get(ch.models.get(model, model), {}).get(
            _kind(kind))

    data = _run(go)
    if data is None:
        _die(f"no {kind} workflow for {model} on {channel}")
    print(json.dumps(data, indent=2))


@app.command("remove")
def remove(channel: str = typer.Argument(...), model: str = typer.Argument(...),
           kind: str = typer.Option(None, "--kind", help="text or image (default: both).")) -> None:
    """Unregister a model's workflow(s); jobs already sent are not affected."""

    async def go(gw: Gateway) -> None:
        service = _service(gw)
        ch = (await _comfy(service, channel)).channel
        workflows = copy.deepcopy(ch.options.get("workflows") or {})
        upstream = ch.models.get(model, model)
        kinds = workflows.get(upstream, {})
        for k in [_kind(kind)] if kind else list(kinds):
            kinds.pop(k, None)
        if not kinds:
            workflows.pop(upstream, None)
        await service.update(channel, ChannelChanges(options={"workflows": workflows}))

    _run(go, writes=True)
    console.print(f"Removed the {kind or 'text and image'} workflow(s) of {model} from "
                  f"{channel}.", highlight=False)

"""``reelgate demo``: submit to a running gateway, watch progress, save the MP4."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from reelgate.cli.output import make_console

__all__ = ["register"]

console = make_console()


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    prompt: str = typer.Argument(..., help="What the video should show."),
    model: str = typer.Option("sora-2", help="Model id."),
    size: str = typer.Option("1280x720", help="WIDTHxHEIGHT."),
    seconds: str = typer.Option("4", help="Duration: 4, 8 or 12."),
    out: Path = typer.Option(Path("output.mp4"), "--out", help="Where to save the MP4."),
    base_url: str = typer.Option(os.environ.get("REELGATE_BASE_URL", "http://127.0.0.1:8000/v1"),
                                 help="The gateway's /v1 URL."),
    api_key: str = typer.Option(os.environ.get("REELGATE_API_KEY", ""), help="API key."),
) -> None:
    """Create a video, show a progress bar while it renders, and download it."""
    if not api_key:
        console.print("[red]Pass --api-key or set REELGATE_API_KEY.[/]")
        raise typer.Exit(2)
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        resp = client.post("/videos", json={"model": model, "prompt": prompt, "size": size,
                                            "seconds": seconds})
        video = _ok(resp)
        video = _watch(client, video)
        if video["status"] != "completed":
            err = video.get("error")
            detail = f"{err.get('code')}: {err.get('message')}" if isinstance(err, dict) else ""
            console.print(f"[red]Failed:[/] {detail}")
            raise typer.Exit(1)
        with client.stream("GET", f"/videos/{video['id']}/content") as r, out.open("wb") as fh:
            if r.status_code != 200:
                console.print(f"[red]Download failed with HTTP {r.status_code}[/]")
                raise typer.Exit(1)
            for chunk in r.iter_bytes():
                fh.write(chunk)
    console.print(f"Saved [bold]{out}[/] ({out.stat().st_size:,} bytes) from {video['id']}")


def _ok(resp: httpx.Response) -> dict[str, object]:
    if resp.status_code >= 400:
        err = resp.json().get("error", {})
        console.print(f"[red]HTTP {resp.status_code}:[/] {err.get('message')}")
        raise typer.Exit(1)
    data: dict[str, object] = resp.json()
    return data


def _watch(client: httpx.Client, video: dict[str, object]) -> dict[str, object]:
    columns = (TextColumn("[bold]{task.fields[status]}"), BarColumn(),
               TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("render", total=100, status=str(video["status"]))
        while video["status"] in ("queued", "in_progress"):
            resp = client.get(f"/videos/{video['id']}")
            video = _ok(resp)
            progress = video.get("progress")
            bar.update(task, completed=float(progress) if isinstance(progress, int) else 0.0,
                       status=str(video["status"]))
            time.sleep(int(resp.headers.get("openai-poll-after-ms", "1000")) / 1000)
        bar.update(task, completed=100 if video["status"] == "completed" else 0,
                   status=str(video["status"]))
    return video

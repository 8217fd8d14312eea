"""``reelgate demo``: submit to a running gateway, watch progress, save the MP4.

``--out`` is checked before anything is created (a job rendered and charged must not
be lost to a typo in a path), the file is written under a temporary name and renamed
when complete, and a gateway that does not answer is one line, not a traceback.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import httpx
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from reelgate.cli.common import fail
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
        fail("Pass --api-key or set REELGATE_API_KEY.", 2)
    out = _writable(out)
    try:
        video = _render(base_url, api_key, model, prompt, size, seconds, out)
    except httpx.ConnectError as exc:
        fail(f"Cannot reach the gateway at {base_url} ({str(exc) or type(exc).__name__}). "
             "Is `reelgate serve` running? (--base-url or REELGATE_BASE_URL)")
    except httpx.HTTPError as exc:
        fail(f"The gateway at {base_url} stopped answering: {str(exc) or type(exc).__name__}")
    console.print(f"Saved [bold]{out}[/] ({out.stat().st_size:,} bytes) from {video['id']}")


def _writable(out: Path) -> Path:
    """``out`` as an absolute path that can be written, or exit saying why."""
    out = out.expanduser().absolute()
    if out.is_dir():
        fail(f"--out {out} is a directory; name a file, e.g. {out / 'output.mp4'}", 2)
    if not out.parent.is_dir():
        fail(f"--out {out}: the directory {out.parent} does not exist", 2)
    if not os.access(out.parent, os.W_OK | os.X_OK) or (out.exists()
                                                       and not os.access(out, os.W_OK)):
        fail(f"--out {out} is not writable", 2)
    return out


def _render(base_url: str, api_key: str, model: str, prompt: str, size: str, seconds: str,
            out: Path) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        resp = client.post("/videos", json={"model": model, "prompt": prompt, "size": size,
                                            "seconds": seconds})
        video = _watch(client, _ok(resp))
        if video["status"] != "completed":
            err = video.get("error")
            detail = f"{err.get('code')}: {err.get('message')}" if isinstance(err, dict) else ""
            fail(f"Failed: {detail}")
        _download(client, str(video["id"]), out)
    return video


def _download(client: httpx.Client, video_id: str, out: Path) -> None:
    """Into a temporary file beside ``out``, renamed when complete."""
    fd, part = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh, \
                client.stream("GET", f"/videos/{video_id}/content") as r:
            if r.status_code != 200:
                fail(f"Download failed with HTTP {r.status_code}")
            for chunk in r.iter_bytes():
                fh.write(chunk)
        os.replace(part, out)
    finally:
        Path(part).unlink(missing_ok=True)


def _ok(resp: httpx.Response) -> dict[str, object]:
    try:
        data = resp.json()
    except ValueError:
        data = None
    if resp.status_code >= 400 or not isinstance(data, dict):
        err = data.get("error") if isinstance(data, dict) else None
        message = err.get("message") if isinstance(err, dict) else resp.text[:200]
        fail(f"HTTP {resp.status_code} from {resp.request.url}: {message}")
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

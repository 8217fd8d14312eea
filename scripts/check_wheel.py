"""Check that `pip install .` gives a reelgate that runs: build the wheel, check that it
holds every file of the package (the catalog, templates, static files, migrations,
not only modules), install it into a fresh venv, then run `reelgate --version` and
`reelgate serve` from there and ask it for /healthz, the admin sign-in page, a static
file and /v1/models.

    python scripts/check_wheel.py [--work DIR]

The fresh venv borrows the dependencies of the interpreter that runs this script (a
``.pth`` line naming its site-packages) but never its reelgate: the wheel is installed
with ``--no-deps`` into the new venv's own site-packages, and the check makes sure
that is the copy that runs. tests/integration/test_wheel.py calls it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tracked(*paths: str) -> list[str]:
    """Files git tracks under ``paths`` (stray build output does not count)."""
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", *paths],
                         capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p]


def build(work: Path) -> Path:
    """The wheel, built by pip from a copy of the tracked sources."""
    copy = work / "src-copy"
    for rel in tracked("pyproject.toml", "README.md", "LICENSE", "src"):
        dest = copy / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest)
    out = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "--disable-pip-version-check", "-w", str(out), str(copy)], check=True)
    (wheel,) = out.glob("reelgate-*.whl")
    return wheel


def missing(wheel: Path) -> list[str]:
    """Package files (modules and data) the wheel does not hold."""
    names = set(zipfile.ZipFile(wheel).namelist())
    want = [p.removeprefix("src/") for p in tracked("src/reelgate")]
    return [p for p in want if p not in names]


def install(wheel: Path, work: Path) -> Path:
    """A new venv with the wheel in it; returns its bin directory."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    ours = Path(sysconfig.get_path("purelib"))
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "borrowed-dependencies.pth").write_text(f"{ours}\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-deps", "-q", "--disable-pip-version-check",
                    str(wheel)], check=True)
    return venv / "bin"


def _env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("REELGATE_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(REELGATE_DATA_DIR=str(work / "data"), XDG_DATA_HOME=str(work / "xdg"))
    return env


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def serve(bin_dir: Path, work: Path, *, timeout: float = 180.0) -> list[str]:
    """Start the installed `reelgate serve`; what it fails to answer (empty: all)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    log_path = work / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(bin_dir / "reelgate"), "serve", "--port", str(port)],
                                cwd=work, env=_env(work), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                return [f"serve exited {proc.returncode}:\n{log_path.read_text()[-3000:]}"]
            try:
                if _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                return [f"no /healthz after {timeout:.0f} s:\n{log_path.read_text()[-3000:]}"]
            time.sleep(0.2)
        problems = []
        status, body = _get(f"{base}/admin/login")  # a template from the package
        if status != 200 or b"<form" not in body:
            problems.append(f"/admin/login answered {status}")
        if _get(f"{base}/admin/static/app.css")[0] != 200:  # a static file
            problems.append("/admin/static/app.css is missing")
        key = re.search(r"sk-rg-[A-Za-z0-9_-]+", log_path.read_text())
        if key is None:
            problems.append("serve printed no first API key")
        else:  # the catalog (defaults.toml) and the migrated database behind it
            status, body = _get(f"{base}/v1/models", {"Authorization": f"Bearer {key[0]}"})
            if status != 200 or b"sora-2" not in body:
                problems.append(f"/v1/models answered {status}")
        return problems
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def check(work: Path) -> list[str]:
    wheel = build(work)
    print(f"built {wheel.name} ({wheel.stat().st_size:,} bytes)")
    problems = [f"not in the wheel: {p}" for p in missing(wheel)]
    bin_dir = install(wheel, work)
    env = _env(work)
    version = subprocess.run([str(bin_dir / "reelgate"), "--version"], cwd=work, env=env,
                             capture_output=True, text=True)
    expected = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert expected is not None
    if version.stdout.strip() != f"reelgate {expected[1]}":
        problems.append(f"--version said {version.stdout.strip()!r} {version.stderr[-500:]}")
    where = subprocess.run([str(bin_dir / "python"), "-c",
                            "import reelgate; print(reelgate.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True).stdout.strip()
    if not where.startswith(str(work / "venv")):
        problems.append(f"the venv imports reelgate from {where!r}, not from the wheel")
    problems += serve(bin_dir, work)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, help="scratch directory (default: a new one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="reelgate-wheel-"))
    work.mkdir(parents=True, exist_ok=True)
    problems = check(work.resolve())
    for p in problems:
        print(f"FAIL: {p}")
    if not problems:
        print("ok: the wheel holds every package file, installs, and serves")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

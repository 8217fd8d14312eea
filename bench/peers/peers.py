"""The two gateways under test, each started as its users would start it.

* reelgate: ``reelgate serve`` (SQLite, a fresh data dir, its in-process worker),
  one channel to the fake upstream (``reelgate channels add``), one API key
  (``reelgate keys create``); everything else default.
* LiteLLM proxy: installed with pip into its own venv (``bench/.venv-litellm``),
  started with the documented no-database config, a random master key from the
  environment and ``LITELLM_LOCAL_MODEL_COST_MAP=True``; everything else default.

Both expose ``base_url`` (ending in ``/v1``), ``key`` and ``pid`` (the root of the
process tree that /proc measurements follow).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
from bench.peers.procs import Proc

__all__ = ["LITELLM_SPEC", "LitellmPeer", "Peer", "ReelgatePeer", "free_port",
           "install_litellm"]

REPO = Path(__file__).resolve().parents[2]
LITELLM_VENV = REPO / "bench" / ".venv-litellm"
#: the version the anchor numbers in /work/shared/refs were measured with
LITELLM_SPEC = "litellm[proxy]==1.108.7"
UPSTREAM_MODEL = "sora-2"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: Proc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} did not answer {url} within {timeout:.0f} s:\n{proc.tail()}")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REELGATE_", "LITELLM_", "OPENAI_", "VIRTUAL_ENV"))}
    env.update(extra)
    return env


class Peer:
    name = ""
    base_url = ""
    key = ""
    proc: Proc | None = None

    def prepare(self) -> None:
        """One-time setup before :meth:`start` (not part of the start-up time)."""

    health_url = ""
    start_timeout = 60.0

    def spawn(self) -> None:
        """Start the process (returns at once; see :meth:`wait_ready`)."""
        raise NotImplementedError

    def wait_ready(self) -> None:
        assert self.proc is not None
        _wait_http(self.health_url, self.proc, self.start_timeout)

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


class ReelgatePeer(Peer):
    name = "reelgate"

    def __init__(self, work: Path, upstream_url: str, upstream_key: str) -> None:
        self.work = work
        self.data = work / "reelgate-data"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.health_url = f"http://127.0.0.1:{self.port}/healthz"
        self.env = _clean_env(REELGATE_DATA_DIR=str(self.data), REELGATE_LOCAL_CHANNEL="off",
                              REELGATE_PORT=str(self.port))
        self.upstream_url = upstream_url
        self.upstream_key = upstream_key
        #: more ``reelgate serve`` flags (``--workers N``)
        self.serve_args: list[str] = []

    def _cli(self, *args: str, stdin: str | None = None) -> str:
        out = subprocess.run([sys.executable, "-m", "reelgate", *args], env=self.env,
                             input=stdin, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"reelgate {' '.join(args)} failed:\n{out.stdout}{out.stderr}")
        return out.stdout

    def prepare(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self._cli("channels", "add", "bench-upstream", "--provider", "openai",
                  "--base-url", self.upstream_url, "--mode", "openai", "--key-stdin",
                  stdin=self.upstream_key + "\n")
        self.key = self._cli("keys", "create", "--name", "bench",
                             "--create-tenant").strip().splitlines()[-1]

    def spawn(self) -> None:
        self.proc = Proc("reelgate", [sys.executable, "-m", "reelgate", "serve",
                                      "--port", str(self.port), *self.serve_args],
                         env=self.env, log=self.work / "reelgate.log", cwd=self.work)


def install_litellm(log: Path) -> Path:
    """The LiteLLM venv's ``bin`` directory; created with pip on first use (~1 min)."""
    bin_dir = LITELLM_VENV / "bin"
    stamp = LITELLM_VENV / f".installed-{LITELLM_SPEC.replace('[', '_').replace(']', '_')}"
    if stamp.exists() and (bin_dir / "litellm").exists():
        return bin_dir
    print(f"installing {LITELLM_SPEC} into {LITELLM_VENV} (about a minute)...", flush=True)
    with log.open("ab") as fh:
        if not (bin_dir / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)],
                           check=True, stdout=fh, stderr=subprocess.STDOUT)
        subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q",
                        LITELLM_SPEC], check=True, stdout=fh, stderr=subprocess.STDOUT)
    stamp.touch()
    return bin_dir


class LitellmPeer(Peer):
    name = "LiteLLM"

    def __init__(self, work: Path, bin_dir: Path, upstream_url: str, upstream_key: str) -> None:
        self.work = work
        self.bin_dir = bin_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.health_url = f"http://127.0.0.1:{self.port}/health/liveliness"
        self.start_timeout = 180.0
        self.key = "sk-" + secrets.token_hex(16)  # a known default key is refused
        self.config = work / "litellm.yaml"
        self.config.write_text(
            "model_list:\n"
            f"  - model_name: {UPSTREAM_MODEL}\n"
            f"    litellm_params: {{model: openai/{UPSTREAM_MODEL}, api_base: {upstream_url},"
            " api_key: os.environ/BENCH_UPSTREAM_KEY}\n"
            "general_settings: {master_key: os.environ/LITELLM_MASTER_KEY}\n"
            "litellm_settings: {drop_params: true}\n")
        self.env = _clean_env(LITELLM_MASTER_KEY=self.key, LITELLM_LOCAL_MODEL_COST_MAP="True",
                              BENCH_UPSTREAM_KEY=upstream_key)

    def spawn(self) -> None:
        self.proc = Proc("litellm", [str(self.bin_dir / "litellm"), "--config", str(self.config),
                                     "--host", "127.0.0.1", "--port", str(self.port)],
                         env=self.env, log=self.work / "litellm.log", cwd=self.work)

"""Chaos run: API and worker processes killed with -9 while hundreds of jobs flow.

    python bench/chaos.py                       # 1,000 jobs, 2 APIs + 3 workers, PostgreSQL
    python bench/chaos.py --jobs 40 --chaos-seconds 8 --json out.json   # the test's size

Starts (unless ``--database-url`` names a PostgreSQL server to use) a throwaway
PostgreSQL cluster, a fake OpenAI-shaped upstream that answers a share of requests
with 429, 5xx, not in time, or by dropping the connection mid-answer (after doing what
was asked: a dropped create did create), N ``reelgate serve --no-worker`` and M ``reelgate
worker`` processes. Client threads create jobs with an Idempotency-Key, retrying on
any API process when one dies, and poll them; meanwhile a random process is killed
with SIGKILL every few seconds and restarted. At the end every job must be completed
or failed exactly once, none lost or duplicated, every completed job's files present
in storage, every upstream call made with the job's own key, and the ledger must
balance. Prints the counts; exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from starlette.types import Message, Receive, Scope, Send  # noqa: E402
from tests.fakes import FakeServer, OpenAIFake  # noqa: E402
from tests.fakes.faults import drop  # noqa: E402
from tests.scale.support import Deployment, WorkerProcess  # noqa: E402
from tests.support.server import GatewayProcess, create_database  # noqa: E402

UPSTREAM_KEY = "sk-upstream-chaos"


class FaultyUpstream:
    """Wraps the fake upstream: a random share of calls gets 429, 503, an answer later
    than the gateway waits, or a dropped connection (those two still take effect
    upstream, as in real life)."""

    def __init__(self, app: OpenAIFake, rng: random.Random, *, p429: float, p5xx: float,
                 ptimeout: float, delay: float, pdrop: float = 0.0) -> None:
        self.app, self.rng = app, rng
        self.p429, self.p5xx, self.ptimeout, self.delay = p429, p5xx, ptimeout, delay
        self.pdrop = pdrop
        self.injected: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_"):
            await self.app(scope, receive, send)
            return
        roll = self.rng.random()
        if roll < self.p429:
            self.injected["429"] += 1
            await _json(send, 429, "rate_limit_exceeded", [(b"retry-after", b"1")])
        elif roll < self.p429 + self.p5xx:
            self.injected["503"] += 1
            await _json(send, 503, "server_error", [])
        elif roll < self.p429 + self.p5xx + self.ptimeout:
            self.injected["timeout"] += 1
            await self._late(scope, receive, send)
        elif roll < self.p429 + self.p5xx + self.ptimeout + self.pdrop:
            self.injected["dropped"] += 1
            await self._dropped(scope, receive, send)
        else:
            await self.app(scope, receive, send)


    async def _late(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Take the whole request, answer after the gateway gave up: the call still
        takes effect upstream (a create creates), the gateway never hears of it."""
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        await asyncio.sleep(self.delay)
        replay = iter(messages)

        async def again() -> Message:
            return next(replay, {"type": "http.disconnect"})

        with contextlib.suppress(Exception):  # the caller is gone; writing may fail
            await self.app(scope, again, send)


    async def _dropped(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Do what was asked, then drop the connection before a byte of the answer."""

        async def nowhere(message: Message) -> None:
            del message

        with contextlib.suppress(Exception):
            await self.app(scope, receive, nowhere)
        await drop(send)


async def _json(send: Send, status: int, code: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"error": {"message": f"injected {status}", "type": "server_error",
                                 "param": None, "code": code}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *headers]})
    await send({"type": "http.response.body", "body": body})


@dataclass
class Ledger:
    """What the clients saw: Idempotency-Key -> job id, and how hard it was."""

    ids: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Chaos:
    def __init__(self, args: argparse.Namespace, dep: Deployment) -> None:
        self.args, self.dep = args, dep
        self.rng = random.Random(args.seed)
        self.kills: Counter[str] = Counter()
        self.stop = threading.Event()

    def killer(self) -> None:
        """Every few seconds SIGKILL a random running process; restart it a moment later
        in the background, so the killing keeps its pace while the victim boots."""
        down: set[int] = set()
        restarts: list[threading.Thread] = []
        while not self.stop.wait(self.rng.uniform(0.5, 1.5) * self.args.kill_every):
            victims = [p for p in (*self.dep.apis, *self.dep.workers) if id(p) not in down]
            if not victims:
                continue
            victim = self.rng.choice(victims)
            kind = "api" if isinstance(victim, GatewayProcess) else "worker"
            victim.kill9()
            self.kills[kind] += 1
            down.add(id(victim))
            thread = threading.Thread(target=self._restart, args=(victim, kind, down))
            thread.start()
            restarts.append(thread)
        for thread in restarts:
            thread.join(60)

    def _restart(self, victim: GatewayProcess | WorkerProcess, kind: str,
                 down: set[int]) -> None:
        time.sleep(self.rng.uniform(0.2, 1.0))
        try:
            victim.start()
        except RuntimeError as exc:  # a restart that fails is a finding, not a crash
            print(f"restart of {kind} failed: {exc}", file=sys.stderr)
            self.kills[f"{kind}_restart_failed"] += 1
        finally:
            down.discard(id(victim))


def submit_all(args: argparse.Namespace, dep: Deployment, key: str, book: Ledger) -> None:
    """Create every job through whichever API answers; the same key on every retry."""
    rng = random.Random(args.seed + 1)

    def one(n: int) -> None:
        idem = uuid.uuid4().hex
        word = rng.choices(["", " explode", " forbidden"], [0.9, 0.05, 0.05])[0]
        body = {"model": "sora-2", "prompt": f"chaos {n} {idem[:8]}{word}", "seconds": "4",
                "size": "1280x720"}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            api = rng.choice(dep.apis)
            try:
                resp = httpx.post(api.base_url + "/videos", json=body, timeout=10,
                                  headers={"Authorization": f"Bearer {key}",
                                           "Idempotency-Key": idem})
            except httpx.HTTPError as exc:
                with book.lock:
                    book.retries += 1
                    book.failures[type(exc).__name__] += 1
                time.sleep(0.2)
                continue
            if resp.status_code == 200:
                with book.lock:
                    book.ids[idem] = resp.json()["id"]
                poll(api, key, resp.json()["id"])
                return
            with book.lock:
                book.retries += 1
                book.failures[f"http_{resp.status_code}"] += 1
            time.sleep(0.2)
        with book.lock:
            book.failures["gave_up"] += 1

    with ThreadPoolExecutor(args.clients) as pool:
        list(pool.map(one, range(args.jobs)))


def poll(api: GatewayProcess, key: str, video_id: str) -> None:
    """A client glance at the job (exercises the inline refresh); errors are fine."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(f"{api.base_url}/videos/{video_id}", timeout=5,
                  headers={"Authorization": f"Bearer {key}"})


def wait_terminal(dep: Deployment, tenant: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    active = -1
    while time.monotonic() < deadline:
        active = dep.query(
            "SELECT count(*) FROM jobs j JOIN tenants t ON t.id = j.tenant_id "
            "WHERE t.name = :t AND j.state NOT IN ('completed', 'failed')", t=tenant)[0][0]
        if active == 0:
            return 0
        time.sleep(1)
    return int(active)


def verify(dep: Deployment, fake: OpenAIFake, tenant: str, book: Ledger,
           storage: Path) -> dict[str, Any]:
    rows = dep.query(
        "SELECT j.id, j.state, j.error_code, j.media, j.prompt, j.upstream_id "
        "FROM jobs j JOIN tenants t ON t.id = j.tenant_id WHERE t.name = :t", t=tenant)
    db_ids = {r[0] for r in rows}
    seen = set(book.ids.values())
    ends = dep.terminal_entries()
    states = Counter(r[1] for r in rows)
    failed_codes = Counter(r[2] for r in rows if r[1] == "failed")
    missing_files = []
    for job_id, state, _code, media, _prompt, _up in rows:
        if state != "completed":
            continue
        refs = media if isinstance(media, dict) else json.loads(media or "{}")
        for variant in ("video", "thumbnail", "spritesheet"):
            ref = refs.get(variant)
            path = storage / ref["key"] if ref else None
            if path is None or not path.is_file() or path.stat().st_size != ref["size"]:
                missing_files.append(f"{job_id}/{variant}")
    upstream_per_job = Counter(j.prompt for j in fake.jobs.values())
    double_submits = [p for p, n in upstream_per_job.items() if n > 1]
    money = dep.query(
        "SELECT l.job_id, l.kind, l.amount_micros FROM ledger l "
        "JOIN tenants t ON t.id = l.tenant_id WHERE t.name = :t", t=tenant)
    kinds: dict[str, list[str]] = {}
    for job_id, kind, _amount in money:
        kinds.setdefault(job_id, []).append(kind)
    bad_money = []
    double_charged = 0
    for job_id, state, *_ in rows:
        want = ["reserve", "settle"] if state == "completed" else ["refund", "reserve"]
        got = sorted(kinds.get(job_id, []))
        if got != want:
            bad_money.append((job_id, state, got))
        if any(got.count(kind) > 1 for kind in ("reserve", "settle", "refund")) or (
                "settle" in got and "refund" in got):
            double_charged += 1
    balance = dep.query(
        "SELECT t.balance_micros, (SELECT coalesce(sum(amount_micros), 0) FROM ledger l "
        "WHERE l.tenant_id = t.id) FROM tenants t WHERE t.name = :t", t=tenant)[0]
    charged = dep.query(
        "SELECT coalesce(sum(charged_micros), 0) FROM jobs j JOIN tenants t "
        "ON t.id = j.tenant_id WHERE t.name = :t", t=tenant)[0][0]
    checks = {
        "no_job_lost": seen <= db_ids,
        "no_phantom_or_duplicate_job": db_ids == seen and len(seen) == len(book.ids),
        "every_job_terminal": states.keys() <= {"completed", "failed"},
        "terminal_exactly_once": all(ends.get(j) == 1 for j in db_ids),
        "files_present": not missing_files,
        "no_double_submit": not double_submits,
        "right_key_always": not fake.wrong_key,
        "ledger_per_job": not bad_money,
        "ledger_balances": int(balance[0]) == int(balance[1]) == -int(charged),
    }
    return {
        "jobs": len(db_ids), "client_ids": len(seen), "states": dict(states),
        "lost": len(seen - db_ids) + book.failures.get("gave_up", 0),
        "double_charged": double_charged, "duplicated": len(db_ids - seen),
        "failed_codes": dict(failed_codes), "missing_files": missing_files[:10],
        "double_submits": double_submits[:10], "bad_money": bad_money[:10],
        "balance_micros": int(balance[0]), "charged_micros": int(charged),
        "upstream_jobs": len(fake.jobs), "checks": checks, "ok": all(checks.values()),
    }


def run(args: argparse.Namespace, root: Path, database_url: str) -> dict[str, Any]:
    fake = OpenAIFake("openai", keys={UPSTREAM_KEY}, complete_after=args.render_seconds,
                      moderation_words=("forbidden",), error_words=("explode",))
    faulty = FaultyUpstream(fake, random.Random(args.seed + 2), p429=args.p429,
                            p5xx=args.p5xx, ptimeout=args.ptimeout, delay=3.0,
                            pdrop=args.pdrop)
    env = {"REELGATE_LEASE_SECONDS": "4", "REELGATE_POLL_MIN_SECONDS": "0.5",
           "REELGATE_POLL_MAX_SECONDS": "2", "REELGATE_IDLE_SECONDS": "0.2",
           "REELGATE_HOUSEKEEPING_SECONDS": "5", "REELGATE_STALE_REFRESH_SECONDS": "3"}
    dep = Deployment(root, env=env, database_url=database_url)
    storage = Path(dep.storage_url)
    started = time.monotonic()
    load_before = os.getloadavg()
    with FakeServer(faulty) as server:
        try:
            dep.add_fake_channel(fake.base_url(server.url), key=UPSTREAM_KEY,
                                 options={"read_timeout": 2})
            for _ in range(args.workers):
                dep.add_worker()
            dep.add_apis(args.apis)
            key = dep.create_key(tenant="chaos", name="chaos")
            chaos = Chaos(args, dep)
            book = Ledger()
            killer = threading.Thread(target=chaos.killer, daemon=True)
            killer.start()
            try:
                submit_all(args, dep, key, book)
                submitted = time.monotonic()
                time.sleep(args.chaos_seconds)
            finally:
                chaos.stop.set()
                killer.join(30)
            for proc in [*dep.apis, *dep.workers]:
                if proc.proc is None or proc.proc.poll() is not None:
                    proc.start()  # everyone back up, so the run can settle
            left = wait_terminal(dep, "chaos", args.settle_timeout)
            finished = time.monotonic()
            report = verify(dep, fake, "chaos", book, storage)
        finally:
            dep.stop()  # whatever happened, no process outlives the run
    report.update({
        "still_active": left, "kills": dict(chaos.kills),
        "client_retries": book.retries, "client_errors": dict(book.failures),
        "injected": dict(faulty.injected), "upstream_requests": len(fake.requests),
        "seconds": {"submit": round(submitted - started, 1),
                    "total": round(finished - started, 1)},
        "load": {"cpus": os.cpu_count(), "before": [round(x, 2) for x in load_before],
                 "after": [round(x, 2) for x in os.getloadavg()]},
    })
    report["checks"]["none_gave_up"] = book.failures.get("gave_up", 0) == 0
    report["checks"]["nothing_left_running"] = left == 0
    report["ok"] = report["ok"] and left == 0
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--apis", type=int, default=2)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds, on average")
    parser.add_argument("--chaos-seconds", type=float, default=20.0,
                        help="keep killing this long after the last create")
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    parser.add_argument("--render-seconds", type=float, default=3.0,
                        help="how long the fake upstream takes per job")
    parser.add_argument("--p429", type=float, default=0.01)
    parser.add_argument("--p5xx", type=float, default=0.03)
    parser.add_argument("--ptimeout", type=float, default=0.01)
    parser.add_argument("--pdrop", type=float, default=0.01,
                        help="share of upstream calls answered by a dropped connection")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--database-url",
                        help="admin URL of a PostgreSQL server (postgresql+asyncpg://...); a "
                             "fresh database is created in it. Default: a throwaway cluster.")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--keep", type=Path,
                        help="work in this directory and keep it (logs, media, SQLite)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="reelgate-chaos-") as tmp:
        root = args.keep or Path(tmp)
        cluster = None
        admin = args.database_url
        if admin is None:
            cluster = root / "pg"
            admin = subprocess.run(["bash", str(ROOT / "scripts/services.sh"),
                                    "postgres-start", str(cluster)], check=True,
                                   capture_output=True, text=True).stdout.strip()
        try:
            report = run(args, root / "run", create_database(admin))
        finally:
            if cluster is not None:
                subprocess.run(["bash", str(ROOT / "scripts/services.sh"), "postgres-stop",
                                str(cluster)], check=False)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if report["ok"] else 1


def print_report(r: dict[str, Any]) -> None:
    print(f"jobs: {r['jobs']} (client saw {r['client_ids']}), states: {r['states']}")
    print(f"lost: {r['lost']}, duplicated: {r['duplicated']}, "
          f"double-charged: {r['double_charged']}")
    print(f"failed by code: {r['failed_codes']}")
    print(f"kills: {r['kills']}, client retries: {r['client_retries']} {r['client_errors']}")
    print(f"injected upstream faults: {r['injected']} over {r['upstream_requests']} requests; "
          f"upstream jobs: {r['upstream_jobs']}")
    print(f"money: balance {r['balance_micros']} µ$, charged {r['charged_micros']} µ$")
    print(f"time: creates {r['seconds']['submit']} s, all terminal after "
          f"{r['seconds']['total']} s")
    load = r["load"]
    print(f"machine: {load['cpus']} CPUs, load average (1/5/15 min) {load['before']} before, "
          f"{load['after']} after")
    for name, ok in r["checks"].items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    for what in ("missing_files", "double_submits", "bad_money"):
        if r[what]:
            print(f"  {what}: {r[what]}")
    print("CHAOS OK" if r["ok"] else "CHAOS FAILED")


if __name__ == "__main__":
    sys.exit(main())

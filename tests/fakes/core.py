"""What every fake upstream shares: keys, request log, key-ownership checks, faults, clock.

A fake is an ASGI app (``fake.app``) wrapping a Starlette router. The wrapper checks
the credential on every call, records it, and applies the next matching injected
fault. Handlers look jobs up through :meth:`FakeUpstream.owned_job`, which records a
``wrong_key`` violation whenever a job is touched with a key other than its creator's:
the gateway must poll and download with exactly the key that created the job.

Faults are switched per test through the methods inherited from
:class:`~tests.fakes.faults.FaultInjector`, or over HTTP on the same port (see
:mod:`tests.fakes.control`).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Message, Receive, Scope, Send

from .control import control_app
from .faults import DroppedConnection, Fault, FaultInjector, drop, rewrite_status

__all__ = [
    "DroppedConnection",
    "FakeJob",
    "FakeUpstream",
    "Fault",
    "JobMissing",
    "RecordedRequest",
    "Violation",
    "WrongKey",
]

# (fraction of complete_after, progress) pairs: non-linear on purpose.
PROGRESS_STEPS = ((0.15, 0), (0.4, 12), (0.7, 45), (1.0, 80))


class JobMissing(Exception):
    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


class WrongKey(Exception):
    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    credential: str | None
    time: float
    status: int | None = None
    fault: str | None = None


@dataclass(frozen=True)
class Violation:
    kind: str
    method: str
    path: str
    job_id: str
    creator: str
    used: str | None


@dataclass
class FakeJob:
    id: str
    creator: str
    model: str
    prompt: str
    width: int
    height: int
    seconds: int
    complete_after: float
    outcome: str = "ok"  # ok | moderation | error
    created_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False
    polls: int = 0

    @property
    def completed_at(self) -> float:
        return self.created_at + self.complete_after

    def phase(self, now: float | None = None) -> tuple[str, int]:
        """(queued | in_progress | completed | failed | cancelled, progress)."""
        if self.cancelled:
            return "cancelled", 0
        elapsed = (now or time.time()) - self.created_at
        fraction = elapsed / self.complete_after if self.complete_after > 0 else 1.0
        for limit, progress in PROGRESS_STEPS:
            if fraction < limit:
                return ("queued" if progress == 0 else "in_progress"), progress
        return ("completed", 100) if self.outcome == "ok" else ("failed", 80)


@dataclass
class _Buffered:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class FakeUpstream(FaultInjector):
    """Base class; subclasses provide routes, credential extraction and error envelopes."""

    #: path prefixes served without a credential (signed CDN / storage URLs)
    public_prefixes: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        keys: Iterable[str] = ("sk-test-1", "sk-test-2"),
        complete_after: float = 1.0,
        content_ttl: float | None = None,
        moderation_words: Iterable[str] = ("forbidden",),
        error_words: Iterable[str] = ("explode",),
        cdn_host: str | None = None,
    ) -> None:
        super().__init__()
        self.keys: set[str] = set(keys)
        self.complete_after = complete_after
        self.content_ttl = content_ttl
        self.moderation_words = set(moderation_words)
        self.error_words = set(error_words)
        self.cdn_host = cdn_host
        self.jobs: dict[str, FakeJob] = {}
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._violations: list[Violation] = []
        self._inner = Starlette(
            routes=self.routes(),
            exception_handlers={JobMissing: self._missing, WrongKey: self._wrong_key},
        )
        self._control = control_app(self)

    # --- to implement ---------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def credential(self, request: Request) -> str | None:
        raise NotImplementedError

    def error_response(self, status: int, message: str, code: str | None) -> Response:
        raise NotImplementedError

    def not_found_response(self, job_id: str) -> Response:
        return self.error_response(404, f"job {job_id} not found", "not_found")

    def wrong_key_response(self, job_id: str) -> Response:
        return self.not_found_response(job_id)

    def bad_key_response(self, credential: str | None) -> Response:
        return self.error_response(401, "Incorrect API key provided", "invalid_api_key")

    def base_url(self, server_url: str) -> str:
        """What a channel's ``base_url`` should be when this fake listens at ``server_url``."""
        return server_url

    def rewrite_status_word(self, body: bytes, word: str) -> bytes:
        """For ``status_word`` faults: put ``word`` where this upstream says its status."""
        return rewrite_status(body, word)

    # --- test API -------------------------------------------------------------------------

    @property
    def app(self) -> FakeUpstream:
        return self

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def violations(self) -> list[Violation]:
        with self._lock:
            return list(self._violations)

    @property
    def wrong_key(self) -> list[Violation]:
        """Calls that touched a job with a key other than its creator's: should be []."""
        return [v for v in self.violations if v.kind == "wrong_key"]

    def revoke(self, key: str) -> None:
        self.keys.discard(key)

    def accept(self, key: str) -> None:
        self.keys.add(key)

    def reset(self) -> None:
        """Forget faults, records and jobs (keys and settings stay)."""
        self.clear_faults()
        with self._lock:
            self._requests.clear()
            self._violations.clear()
            self.jobs.clear()

    # --- helpers for handlers -------------------------------------------------------------

    def outcome_for(self, prompt: str) -> str:
        lowered = prompt.lower()
        if any(word.lower() in lowered for word in self.moderation_words):
            return "moderation"
        if any(word.lower() in lowered for word in self.error_words):
            return "error"
        return "ok"

    def new_job(self, request: Request, job_id: str, **fields: Any) -> FakeJob:
        creator = request.scope["fake.credential"]
        job = FakeJob(
            id=job_id,
            creator=creator,
            complete_after=self.complete_after,
            outcome=self.outcome_for(str(fields.get("prompt", ""))),
            **fields,
        )
        self.jobs[job_id] = job
        return job

    def owned_job(self, request: Request, job_id: str) -> FakeJob:
        """The job, if it exists and the caller's key created it; records violations."""
        job = self.jobs.get(job_id)
        if job is None:
            raise JobMissing(job_id)
        used = request.scope.get("fake.credential")
        if used != job.creator:
            violation = Violation(
                "wrong_key", request.method, request.url.path, job_id, job.creator, used
            )
            with self._lock:
                self._violations.append(violation)
            raise WrongKey(job_id)
        return job

    def content_expired(self, job: FakeJob) -> bool:
        ttl = self.content_ttl
        return ttl is not None and time.time() > job.completed_at + ttl

    def cdn_base(self, request: Request) -> str:
        """Our own address under another host name, i.e. a different origin (a "CDN")."""
        host = self.cdn_host or (
            "localhost" if request.url.hostname != "localhost" else "127.0.0.1"
        )
        return f"{request.url.scheme}://{host}:{request.url.port}"

    @staticmethod
    def token(length: int = 24) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(secrets.choice(alphabet) for _ in range(length))

    async def _missing(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, JobMissing)
        return self.not_found_response(exc.job_id)

    async def _wrong_key(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WrongKey)
        return self.wrong_key_response(exc.job_id)

    # --- ASGI -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"].startswith("/_"):
            await self._control(scope, receive, send)
            return
        request = Request(scope)
        public = scope["path"].startswith(self.public_prefixes) if self.public_prefixes else False
        credential = self.credential(request)  # recorded on public paths too: leak check
        scope["fake.credential"] = credential
        record = RecordedRequest(
            scope["method"], scope["path"], scope["query_string"].decode(), credential, time.time()
        )
        with self._lock:
            self._requests.append(record)
        fault = self.take_fault(scope["method"], scope["path"])
        record.fault = fault.kind if fault else None
        if fault and fault.kind == "status":
            if fault.delay:
                await asyncio.sleep(fault.delay)
            response = self._fault_response(fault)
        elif not public and credential not in self.keys:
            response = self.bad_key_response(credential)
        else:
            await self._handle(scope, receive, send, record, fault)
            return
        record.status = response.status_code
        await response(scope, receive, send)

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        record: RecordedRequest,
        fault: Fault | None,
    ) -> None:
        answer = await self._run_inner(scope, receive)
        record.status = answer.status
        if fault is None:
            await _send(send, answer)
            return
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        elif fault.kind == "drop":
            record.status = None
            await drop(send)
        elif fault.kind == "malformed":
            answer = _Buffered(200, [(b"content-type", b"application/json")], answer.body[:9])
            record.status = 200
        elif fault.kind == "status_word":
            answer.body = self.rewrite_status_word(answer.body, fault.word)
        await _send(send, answer)

    async def _run_inner(self, scope: Scope, receive: Receive) -> _Buffered:
        answer = _Buffered(500, [], b"")
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.status = message["status"]
                answer.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._inner(scope, receive, capture)
        answer.body = b"".join(chunks)
        return answer

    def _fault_response(self, fault: Fault) -> Response:
        code = {429: "rate_limit_exceeded"}.get(fault.status, "server_error")
        if fault.status < 500 and fault.status != 429:
            code = "injected_error"
        response = self.error_response(fault.status, f"injected HTTP {fault.status}", code)
        response.headers.update(fault.headers)
        return response


async def _send(send: Send, answer: _Buffered) -> None:
    headers = [(k, v) for k, v in answer.headers if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})

"""Injected misbehaviour for the fakes: the fault model, the per-test API, wire tricks.

Faults are matched in order against each incoming request (method and a regular
expression on the path); each applies to the next ``count`` matching requests.
``status`` faults answer without running the handler (the upstream refused: no job
exists); the others run the handler first, so a dropped or timed-out create *did*
create a job, which is exactly the ambiguity a gateway must handle.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.types import Send

__all__ = ["FAULT_KINDS", "DroppedConnection", "Fault", "FaultInjector", "drop", "rewrite_status"]

FAULT_KINDS = frozenset({"status", "slow", "drop", "malformed", "status_word"})


class DroppedConnection(Exception):
    """Raised inside the server to make uvicorn close the socket without an answer."""


@dataclass
class Fault:
    """One injected misbehaviour for the next ``count`` matching requests."""

    kind: str  # status | slow | drop | malformed | status_word
    count: int = 1
    method: str | None = None
    path: str | None = None  # regular expression searched in the request path
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    word: str = "unknown"

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not self.path or re.search(self.path, path) is not None


class FaultInjector:
    """The fault half of a fake's test API (thread-safe: tests run in another thread)."""

    def __init__(self) -> None:
        self._fault_lock = threading.Lock()
        self._faults: list[Fault] = []

    def add_fault(self, fault: Fault) -> Fault:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        with self._fault_lock:
            self._faults.append(fault)
        return fault

    def fail_next(
        self,
        status: int = 500,
        count: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | str | None = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> Fault:
        """Answer the next ``count`` matching requests with ``status`` (no job is made),
        after ``delay`` seconds."""
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = str(retry_after)
        return self.add_fault(Fault("status", count, method, path, status, extra, delay))

    def rate_limit_next(
        self,
        count: int = 1,
        *,
        retry_after: float | str = 2,
        method: str | None = None,
        path: str | None = None,
        delay: float = 0.0,
    ) -> Fault:
        return self.fail_next(429, count, retry_after=retry_after, method=method, path=path,
                              delay=delay)

    def slow_next(
        self, delay: float, count: int = 1, *, method: str | None = None, path: str | None = None
    ) -> Fault:
        """Handle the request, then wait ``delay`` seconds before answering."""
        return self.add_fault(Fault("slow", count, method, path, delay=delay))

    def drop_next(
        self, count: int = 1, *, method: str | None = None, path: str | None = None
    ) -> Fault:
        """Handle the request (a create does create), then close the socket unanswered."""
        return self.add_fault(Fault("drop", count, method, path))

    def malformed_next(
        self, count: int = 1, *, method: str | None = None, path: str | None = None
    ) -> Fault:
        """Handle the request, then answer 200 with a truncated JSON body."""
        return self.add_fault(Fault("malformed", count, method, path))

    def status_word_next(
        self,
        word: str = "unknown",
        count: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> Fault:
        """Rewrite the ``status`` field of the next matching JSON answers to ``word``."""
        return self.add_fault(Fault("status_word", count, method, path, word=word))

    def clear_faults(self) -> None:
        with self._fault_lock:
            self._faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first pending fault matching this request, consuming one of its uses."""
        with self._fault_lock:
            for fault in self._faults:
                if fault.count > 0 and fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
        return None


async def drop(send: Send) -> None:
    """Close the connection with nothing written.

    uvicorn validates header values after marking the response as started but before
    writing anything; an invalid value therefore makes it close the transport with no
    bytes sent. A server without that check at least sees a truncated answer.
    """
    with contextlib.suppress(RuntimeError):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-drop", b"\n")]})
    raise DroppedConnection("fake upstream dropped the connection on purpose")


#: where upstreams keep their status word: top level, or one object down
_STATUS_KEYS = ("status", "task_status")


def rewrite_status(body: bytes, word: str) -> bytes:
    """Replace the status word of a JSON answer, at the top level or in a nested
    object such as MiniMax's ``task`` or DashScope's ``output``."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict):
        return body
    for holder in (data, *(v for v in data.values() if isinstance(v, dict))):
        key = next((k for k in _STATUS_KEYS if k in holder), None)
        if key is not None:
            holder[key] = word
            break
    return json.dumps(data).encode()

"""Sampler progress from ComfyUI's ``/ws``, best effort.

ComfyUI sends execution events only to the websocket whose ``clientId`` equals the
``client_id`` a prompt was queued with, so each provider instance (one per channel
per process) listens under its own id and sees the prompts it submitted itself.
Nothing depends on it: polling ``/history`` and ``/queue`` decides every state, and
this only makes the progress of a running prompt finer than "running". The listener
reconnects with backoff and never raises, and goes quiet (closes its socket) after
five minutes without a submit or poll through it, so a provider instance replaced
after a channel edit does not keep a connection open; the next submit reopens it.

Messages read (``main.py`` / ``execution.py``): ``{"type": "progress", "data":
{"value", "max", "prompt_id", "node"}}``, ``execution_start``, ``execution_success``,
``execution_error``, ``execution_interrupted`` (each with ``prompt_id``) and
``executing`` with ``"node": null`` when a prompt is done. Binary frames (previews)
are skipped.

It also keeps the one proof there is that a prompt never started: ComfyUI sends
``execution_start`` to this socket before it runs anything of a prompt queued under
our ``client_id``. So a prompt the server was seen holding *pending* while a
connection was open, of which no start was heard on that connection until the server
ended it, had not started when the server went away; if the server then comes back
without it (a restart forgets the queue), it can be sent elsewhere and is still
rendered once. Every other case (never seen pending on a live connection, a start
heard or seen, the connection closed by us) proves nothing, and the job is not resent.
(The one gap: a connection dropped while the server lived on, the prompt started in the
second or so before we reconnected, and the server died before our next poll; a
reconnect that tells us one of our prompts is running voids all such proofs.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from websockets.asyncio.client import connect

__all__ = ["ProgressFeed"]

log = logging.getLogger(__name__)

_KEEP = 512  # prompts remembered
_MAX_MESSAGE = 16 * 1024 * 1024  # previews can be large; a bigger frame drops the socket
_DONE = frozenset({"execution_success", "execution_error", "execution_interrupted"})
#: messages that only a prompt that has started sends
_STARTED = frozenset({"execution_start", "execution_cached", "progress", "executing",
                      "executed", "progress_state", *_DONE})
_IDLE = 300.0  # seconds without use after which the listener stops
_WAKE = 30.0  # how often a quiet socket checks whether it is still wanted


class ProgressFeed:
    """The latest fraction done (0..1) of each prompt this listener heard about."""

    def __init__(self, url: str, headers: Mapping[str, str]) -> None:
        self.url = url
        self._headers = dict(headers)
        self._fractions: OrderedDict[str, float] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._used = time.monotonic()
        self.connected = asyncio.Event()
        self._epoch = 0  # connections opened so far: the open one's number
        self._live = False
        self._lost: set[int] = set()  # connections the server's side ended
        self._pending_in: OrderedDict[str, int] = OrderedDict()  # prompt -> connection
        self._started: OrderedDict[str, None] = OrderedDict()

    @property
    def epoch(self) -> int | None:
        """The open connection's number, None while there is none."""
        return self._epoch if self._live else None

    def saw_pending(self, prompt_id: str, epoch: int | None) -> None:
        """The server answered that it holds ``prompt_id`` unstarted; ``epoch`` is the
        connection that was open when it was asked. Counts only if that connection
        is still the open one (so none of the prompt's messages can have been missed)."""
        if epoch is not None and epoch == self.epoch and prompt_id not in self._started:
            self._remember(self._pending_in, prompt_id, epoch)

    def saw_started(self, prompt_id: str) -> None:
        self._remember(self._started, prompt_id, None)
        self._pending_in.pop(prompt_id, None)

    def never_started(self, prompt_id: str) -> bool:
        """True only with the proof above: seen pending on a connection the server
        then ended, no start heard on it."""
        epoch = self._pending_in.get(prompt_id)
        return epoch is not None and epoch in self._lost and prompt_id not in self._started

    @staticmethod
    def _remember(store: OrderedDict[str, Any], key: str, value: Any) -> None:
        store[key] = value
        store.move_to_end(key)
        while len(store) > _KEEP:
            store.popitem(last=False)

    def start(self) -> None:
        self._used = time.monotonic()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"comfyui-ws:{self.url}")

    def fraction(self, prompt_id: str) -> float | None:
        self._used = time.monotonic()
        return self._fractions.get(prompt_id)

    def _idle(self) -> bool:
        return time.monotonic() - self._used > _IDLE

    def handle(self, message: Any) -> None:
        """Apply one decoded JSON message (anything unexpected is ignored)."""
        if not isinstance(message, Mapping):
            return
        kind, data = message.get("type"), message.get("data")
        if (kind == "executing" and isinstance(data, Mapping) and data.get("node") is not None
                and "prompt_id" not in data):
            # sent on reconnect when one of our prompts runs: which one, it does not say
            self._pending_in = OrderedDict((p, e) for p, e in self._pending_in.items()
                                           if e == self._epoch and self._live)
        if not isinstance(data, Mapping) or not isinstance(data.get("prompt_id"), str):
            return
        prompt_id = data["prompt_id"]
        if kind in _STARTED:
            self.saw_started(prompt_id)
        if kind == "execution_start":
            self._set(prompt_id, 0.0)
        elif kind == "progress":
            value, top = data.get("value"), data.get("max")
            if isinstance(value, int | float) and isinstance(top, int | float) and top > 0:
                self._set(prompt_id, max(0.0, min(1.0, value / top)))
        elif kind in _DONE or (kind == "executing" and data.get("node") is None):
            self._set(prompt_id, 1.0)

    def _set(self, prompt_id: str, fraction: float) -> None:
        self._fractions[prompt_id] = fraction
        self._fractions.move_to_end(prompt_id)
        while len(self._fractions) > _KEEP:
            self._fractions.popitem(last=False)

    async def _run(self) -> None:
        delay = 1.0
        while not self._idle():
            try:
                async with connect(self.url, additional_headers=self._headers, open_timeout=5,
                                   max_size=_MAX_MESSAGE, compression=None) as ws:
                    delay = 1.0
                    await self._listen(ws)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: wait and reconnect, never break polling
                log.debug("ComfyUI websocket %s: %r; reconnecting in %.0f s", self.url, exc, delay)
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _listen(self, ws: Any) -> None:
        """Read one connection until unused; an end the server caused marks it lost."""
        self._epoch += 1
        self._live = True
        self.connected.set()
        try:
            while not self._idle():
                try:  # not wait_for: on 3.11 it can swallow our cancellation
                    async with asyncio.timeout(_WAKE):
                        raw = await ws.recv()
                except TimeoutError:
                    continue
                if isinstance(raw, str):
                    with contextlib.suppress(ValueError):
                        self.handle(json.loads(raw))
        except asyncio.CancelledError:
            raise
        except Exception:
            self._lost.add(self._epoch)  # closed or broken from the server's side
            if len(self._lost) > _KEEP:
                self._lost.discard(min(self._lost))
            raise
        finally:
            self._live = False
            self.connected.clear()

    async def close(self) -> None:
        """Stop listening; bounded, so closing a provider never hangs on a socket."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=5)
            self._task = None

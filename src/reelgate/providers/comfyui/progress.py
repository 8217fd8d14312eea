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
        if not isinstance(data, Mapping) or not isinstance(data.get("prompt_id"), str):
            return
        prompt_id = data["prompt_id"]
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
                    self.connected.set()
                    delay = 1.0
                    while not self._idle():
                        try:  # not wait_for: on 3.11 it can swallow our cancellation
                            async with asyncio.timeout(_WAKE):
                                raw = await ws.recv()
                        except TimeoutError:
                            continue
                        if isinstance(raw, str):
                            with contextlib.suppress(ValueError):
                                self.handle(json.loads(raw))
                self.connected.clear()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: wait and reconnect, never break polling
                log.debug("ComfyUI websocket %s: %r; reconnecting in %.0f s", self.url, exc, delay)
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def close(self) -> None:
        """Stop listening; bounded, so closing a provider never hangs on a socket."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=5)
            self._task = None

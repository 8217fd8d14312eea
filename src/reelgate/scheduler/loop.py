"""The loop every lease-based background service runs: claim, start, sleep, drain.

A :class:`TickLoop` calls :meth:`~TickLoop.tick` (claim what is due and start it in
the background) until stopped; when a tick claimed nothing it sleeps until woken or
until :meth:`~TickLoop.idle_timeout`. On stop it lets running work finish for
``drain_seconds``, then :meth:`~TickLoop.stopped` runs (e.g. hand back leases). The
worker (jobs) and the webhook dispatcher (deliveries) are both one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["TickLoop"]


class TickLoop:
    #: shown in the log lines of the loop
    name = "loop"
    #: on stop, how long running work may finish before :meth:`stopped` runs
    drain_seconds = 10.0

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()

    async def tick(self) -> int:
        """Claim due work and start it with :meth:`spawn`; how much was claimed."""
        raise NotImplementedError

    async def idle_timeout(self) -> float:
        """How long an idle loop sleeps unless woken."""
        return self.idle_seconds

    async def stopped(self) -> None:
        """After the drain: what is left to do on the way out."""

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        log = logging.getLogger(type(self).__module__)  # the service's own logger
        log.info("%s started", self.name)
        while not self._stop.is_set():
            try:
                claimed = await self.tick()
            except Exception:
                log.exception("%s tick failed", self.name)
                claimed = 0
            if claimed == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=await self.idle_timeout())
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=self.drain_seconds)
        await self.stopped()

    async def run_until_idle(self, timeout: float = 60.0) -> None:
        """Tick until nothing is due or running (for tests and one-shot tools)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            claimed = await self.tick()
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=0.2)
            elif claimed == 0:
                return

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``work`` in the background; the drain on stop waits for it."""
        task = asyncio.create_task(work, name=name)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return task

    async def free_slots(self, capacity: int, wait: float | None = None) -> int:
        """How much more may start now; when nothing may, waits (at most ``wait``)
        for running work to end and says 0, and the caller ticks again."""
        free = capacity - len(self._inflight)
        if free > 0:
            return free
        if self._inflight:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED,
                               timeout=wait)
        return 0

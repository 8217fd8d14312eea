"""The lease-loop base: ticks until stopped, sleeps when idle until woken, drains
running work on stop (bounded), then runs its way-out hook."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from reelgate.scheduler.loop import TickLoop


class _Loop(TickLoop):
    """Each tick claims the next scripted batch; each item runs until its event is set."""

    def __init__(self, batches: list[int], capacity: int = 10) -> None:
        super().__init__(idle_seconds=3600.0)  # only a wake or a stop ends a sleep
        self.batches = batches
        self.capacity = capacity
        self.ticks = 0
        self.release = asyncio.Event()
        self.finished = 0
        self.stopped_with_running: int | None = None

    async def tick(self) -> int:
        self.ticks += 1
        free = await self.free_slots(self.capacity)
        if not free:
            return 1
        n = min(self.batches.pop(0) if self.batches else 0, free)
        for i in range(n):
            self.spawn(self._work(), name=f"work:{self.ticks}:{i}")
        return n

    async def _work(self) -> None:
        await self.release.wait()
        self.finished += 1

    async def stopped(self) -> None:
        self.stopped_with_running = len(self._inflight)


async def _until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_an_idle_loop_sleeps_until_woken_and_a_stop_drains_the_work() -> None:
    loop = _Loop([2, 0, 1])
    running = asyncio.create_task(loop.run())
    await _until(lambda: loop.ticks == 2)  # claimed 2, then claimed none: asleep
    await asyncio.sleep(0.05)
    assert loop.ticks == 2  # no busy loop while idle
    loop.wake()
    await _until(lambda: loop.ticks >= 3 and len(loop._inflight) == 3)
    loop.stop()
    await asyncio.sleep(0.05)
    assert not running.done()  # draining: the three are still running
    loop.release.set()
    await asyncio.wait_for(running, timeout=30)
    assert loop.finished == 3 and loop.stopped_with_running == 0


async def test_the_drain_is_bounded_and_the_way_out_hook_still_runs() -> None:
    loop = _Loop([1])
    loop.drain_seconds = 0.05
    running = asyncio.create_task(loop.run())
    await _until(lambda: len(loop._inflight) == 1)
    loop.stop()
    await asyncio.wait_for(running, timeout=30)
    assert loop.stopped_with_running == 1 and loop.finished == 0
    loop.release.set()
    await _until(lambda: loop.finished == 1)


async def test_a_full_loop_waits_for_a_slot_before_claiming_more() -> None:
    loop = _Loop([2, 5], capacity=2)
    assert await loop.tick() == 2
    waiting = asyncio.create_task(loop.tick())  # full: waits for one to end
    await asyncio.sleep(0.05)
    assert not waiting.done() and loop.batches == [5]
    loop.release.set()
    assert await asyncio.wait_for(waiting, timeout=30) == 1  # "tick again"
    assert await loop.tick() == 2  # room for two again; the batch of 5 is capped


async def test_run_until_idle_returns_once_nothing_is_due_or_running() -> None:
    loop = _Loop([3, 1])
    loop.release.set()
    await loop.run_until_idle(timeout=30)
    assert loop.finished == 4 and not loop._inflight

"""Many jobs' changes in one transaction: the poller's group commit.

A worker polling thousands of jobs records one answer per poll, and each was its own
transaction (a pool checkout, BEGIN, the compare-and-swap, COMMIT): most of a poll's
database cost was the transaction around one UPDATE. Changes that arrive while the
event loop is busy are queued here and written together, each still its own
compare-and-swap with its hooks, so nothing about a single change differs: it moves
or it does not, and its hooks run in the transaction that moved it. If the shared
transaction fails (one hook raised, a deadlock), each change is retried on its own,
so one bad change cannot take the others down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

Item = TypeVar("Item")
Result = TypeVar("Result")

#: how many changes one transaction takes at most
MAX_BATCH = 200


class GroupCommit(Generic[Item, Result]):
    """``await submit(item)``: the item's result once its transaction committed.

    ``together(items)`` writes a batch in one transaction and returns one result per
    item; ``alone(item)`` writes one (the fallback when ``together`` raised)."""

    def __init__(self, together: Callable[[Sequence[Item]], Awaitable[list[Result]]],
                 alone: Callable[[Item], Awaitable[Result]], *, max_batch: int = MAX_BATCH
                 ) -> None:
        self.together = together
        self.alone = alone
        self.max_batch = max_batch
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        flusher = self._flusher
        if flusher is None or flusher.done() or flusher.get_loop() is not future.get_loop():
            self._flusher = asyncio.create_task(self._flush(), name="group-commit")
        return await future

    async def _flush(self) -> None:
        # one turn of the loop: every step whose answer arrived meanwhile joins in
        await asyncio.sleep(0)
        while self._queue:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            batch = [(item, f) for item, f in batch if not f.done()]  # callers gone
            if batch:
                await self._write(batch)

    async def _write(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            await self._write_or_fall_back(batch)
        except BaseException:  # cancelled mid-write: nobody may wait forever
            for _, future in batch:
                future.cancel()
            raise

    async def _write_or_fall_back(self, batch: list[tuple[Item, asyncio.Future[Result]]]
                                  ) -> None:
        try:
            results = (await self.together([item for item, _ in batch]) if len(batch) > 1
                       else None)
        except Exception:
            results = None
        if results is not None:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            return
        for item, future in batch:  # one at a time: each gets its own outcome
            try:
                result = await self.alone(item)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(result)

    async def aclose(self) -> None:
        task, self._flusher = self._flusher, None
        if task is not None:
            with contextlib.suppress(Exception):
                await task

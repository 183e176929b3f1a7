"""Awaitable batched writes: coroutines' rows written together by one thread call per batch.

Handing each request's INSERT to a thread of the pool costs a thread hop, a GIL hand-over and
a commit per request. Here the coroutines of one event loop queue their rows and await; a
drain task hands everything queued so far to a single thread call (one shared commit), then
resolves each caller's future with its own outcome. Up to `max_inflight` drains run at once
(one on SQLite; on PostgreSQL the next batch goes out while the last one waits for its WAL
flush). A caller resumes only once its rows are committed, so "answered" still means
"durable".
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

Rows = Sequence[dict[str, Any]]
# Writes every given batch of rows in one transaction (raises if it is not committed).
Writer = Callable[[list[dict[str, Any]]], None]


@dataclass(eq=False)
class _LoopQueue:
    items: list[tuple[Rows, asyncio.Future[None]]] = field(default_factory=list)
    # The drain tasks running, held: the loop keeps only weak references.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class AsyncBatcher:
    """`await write(rows)` returns once `rows` are committed, sharing commits under load."""

    def __init__(self, writer: Writer, *, max_batch: int = 1000, max_inflight: int = 1) -> None:
        self._writer = writer
        self._max_batch = max_batch
        self._max_inflight = max_inflight
        # One queue per event loop (tests may run several loops one after another).
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue] = (
            weakref.WeakKeyDictionary())
        self.calls = 0  # thread calls made: lets tests see that rows were batched

    async def write(self, rows: Rows) -> None:
        if not rows:
            return
        loop = asyncio.get_running_loop()
        q = self._queues.get(loop)
        if q is None:
            q = self._queues[loop] = _LoopQueue()
        fut: asyncio.Future[None] = loop.create_future()
        q.items.append((rows, fut))
        if len(q.tasks) < self._max_inflight:
            # The rows are written even if this caller is cancelled meanwhile (the drain
            # task is not): what was asked to be recorded is recorded. Cancelling the caller
            # cancels only its own future, which the drain then skips: no shield needed.
            q.tasks.add(loop.create_task(self._drain(q)))
        await fut

    async def _drain(self, q: _LoopQueue) -> None:
        batch: list[tuple[Rows, asyncio.Future[None]]] = []
        try:
            while q.items:
                batch = self._take(q)
                outcomes = await anyio.to_thread.run_sync(self._write_batch, batch)
                for (_, fut), error in zip(batch, outcomes, strict=True):
                    if fut.done():
                        continue
                    if error is None:
                        fut.set_result(None)
                    else:
                        fut.set_exception(error)
        except BaseException:  # cancelled with the loop: nobody waits forever
            for _, fut in [*batch, *q.items]:
                if not fut.done():
                    fut.set_exception(RuntimeError("the batched writer was stopped"))
            q.items.clear()
            raise
        finally:
            # At once, not from a done callback: a write() between this drain's last look at
            # the queue and that callback would otherwise find the drains full and wait forever.
            q.tasks.discard(asyncio.current_task())

    def _take(self, q: _LoopQueue) -> list[tuple[Rows, asyncio.Future[None]]]:
        batch: list[tuple[Rows, asyncio.Future[None]]] = []
        count = 0
        while q.items and (not batch or count + len(q.items[0][0]) <= self._max_batch):
            item = q.items.pop(0)
            batch.append(item)
            count += len(item[0])
        return batch

    def _write_batch(self, batch: list[tuple[Rows, asyncio.Future[None]]]
                     ) -> list[BaseException | None]:
        """In a worker thread: everything in one transaction; if that fails, each caller's
        rows on their own, so that one caller's bad rows do not fail the others."""
        self.calls += 1
        try:
            self._writer([row for rows, _ in batch for row in rows])
            return [None] * len(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
        outcomes: list[BaseException | None] = []
        for rows, _ in batch:
            try:
                self._writer(list(rows))
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

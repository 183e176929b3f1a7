"""A function called for many coroutines at once, one worker-thread call per batch.

For C work that releases the GIL (an Ed25519 signature with pyca `cryptography` >= 47): on
the event loop it would stop every other request for its duration, and one thread hop per
call would cost more than the call. Here each coroutine's argument is queued, one drain hands
everything queued so far to a single thread call, and each caller's future gets its own
result or its own exception. The event loop goes on with its Python work while the thread
runs on the other core.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

import anyio.to_thread

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class _Queue(Generic[T, R]):
    items: list[tuple[T, asyncio.Future[R]]] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None  # held: the loop keeps only weak references


class BatchedCalls(Generic[T, R]):
    """`submit(x)` returns a future of `fn(x)`, computed in a worker thread with the other
    arguments queued meanwhile."""

    def __init__(self, fn: Callable[[T], R], *, max_batch: int = 256) -> None:
        self._fn = fn
        self._max_batch = max_batch
        # One queue per event loop (tests run several loops one after another).
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue[T, R]] = (
            weakref.WeakKeyDictionary())
        self.calls = 0  # thread calls made: lets tests see that calls were batched

    def submit(self, item: T) -> asyncio.Future[R]:
        loop = asyncio.get_running_loop()
        q = self._queues.get(loop)
        if q is None:
            q = self._queues[loop] = _Queue()
        fut: asyncio.Future[R] = loop.create_future()
        q.items.append((item, fut))
        if q.drain is None:
            q.drain = loop.create_task(self._drain(q))
        return fut

    async def _drain(self, q: _Queue[T, R]) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while q.items:
                batch, q.items[:] = q.items[:self._max_batch], q.items[self._max_batch:]
                outcomes = await anyio.to_thread.run_sync(self._run, [x for x, _ in batch])
                for (_, fut), (value, error) in zip(batch, outcomes, strict=True):
                    if fut.done():  # its caller was cancelled
                        continue
                    if error is None:
                        fut.set_result(cast(R, value))
                    else:
                        fut.set_exception(error)
                batch = []
        except BaseException:  # cancelled with the loop: nobody waits forever
            for _, fut in [*batch, *q.items]:
                if not fut.done():
                    fut.set_exception(RuntimeError("the batched calls were stopped"))
            q.items.clear()
            raise
        finally:
            # At once (not from a done callback): a submit() after this drain's last look at
            # the queue must start a new drain, not find this finished one still set.
            q.drain = None

    def _run(self, items: list[T]) -> list[tuple[R | None, Exception | None]]:
        """In the worker thread: each call on its own, its exception kept for its caller."""
        self.calls += 1
        out: list[tuple[R | None, Exception | None]] = []
        for item in items:
            try:
                out.append((self._fn(item), None))
            except Exception as exc:
                out.append((None, exc))
        return out

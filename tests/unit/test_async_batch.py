"""AsyncBatcher: coroutines' rows written by one thread call per batch, each caller told its
own outcome, and nothing lost when a caller goes away."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from idproof.db.async_batch import AsyncBatcher


class ListStore:
    """A real (in-memory) store: rows are appended whole or not at all."""

    def __init__(self, bad: str | None = None) -> None:
        self.rows: list[dict[str, Any]] = []
        self.bad = bad
        self.threads: set[int] = set()
        self.gate = threading.Event()
        self.gate.set()

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.gate.wait(5)
        self.threads.add(threading.get_ident())
        if any(r["v"] == self.bad for r in rows):
            raise ValueError("refused")
        self.rows.extend(rows)


def test_concurrent_writes_share_thread_calls() -> None:
    store = ListStore()
    batcher = AsyncBatcher(store.write)

    async def main() -> None:
        store.gate.clear()  # the first call waits: everything after it queues up
        first = asyncio.ensure_future(batcher.write([{"v": "0"}]))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(batcher.write([{"v": str(i)}])) for i in range(1, 200)]
        await asyncio.sleep(0.05)
        store.gate.set()
        await asyncio.gather(first, *rest)

    asyncio.run(main())
    assert sorted(int(r["v"]) for r in store.rows) == list(range(200))
    assert batcher.calls == 2  # the first row alone, then the 199 that queued meanwhile
    assert threading.get_ident() not in store.threads  # never on the event loop's thread


def test_each_caller_gets_its_own_outcome() -> None:
    store = ListStore(bad="bad")
    batcher = AsyncBatcher(store.write)

    async def main() -> list[BaseException | None]:
        store.gate.clear()
        first = asyncio.ensure_future(batcher.write([{"v": "first"}]))
        await asyncio.sleep(0.05)
        calls = [batcher.write([{"v": v}]) for v in ("a", "bad", "b")]
        futs = [asyncio.ensure_future(c) for c in calls]
        await asyncio.sleep(0.05)
        store.gate.set()
        await first
        return list(await asyncio.gather(*futs, return_exceptions=True))

    outcomes = asyncio.run(main())
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ValueError)
    assert sorted(r["v"] for r in store.rows) == ["a", "b", "first"]


def test_a_lone_failure_is_raised_and_the_next_write_works() -> None:
    store = ListStore(bad="bad")
    batcher = AsyncBatcher(store.write)
    with pytest.raises(ValueError):
        asyncio.run(batcher.write([{"v": "bad"}]))
    asyncio.run(batcher.write([{"v": "ok"}]))  # a new loop, too
    assert store.rows == [{"v": "ok"}]


def test_a_cancelled_caller_is_still_written() -> None:
    store = ListStore()
    batcher = AsyncBatcher(store.write)

    async def main() -> None:
        store.gate.clear()
        task = asyncio.ensure_future(batcher.write([{"v": "kept"}]))
        await asyncio.sleep(0.05)
        task.cancel()
        store.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        await batcher.write([{"v": "next"}])

    asyncio.run(main())
    assert [r["v"] for r in store.rows] == ["kept", "next"]


def test_batches_are_bounded() -> None:
    store = ListStore()
    batcher = AsyncBatcher(store.write, max_batch=10)

    async def main() -> None:
        store.gate.clear()
        futs = [asyncio.ensure_future(batcher.write([{"v": str(i)}])) for i in range(35)]
        await asyncio.sleep(0.05)
        store.gate.set()
        await asyncio.gather(*futs)

    asyncio.run(main())
    assert len(store.rows) == 35
    assert batcher.calls == 4  # all queued before the drain ran: 10 + 10 + 10 + 5


class BlockingStore(ListStore):
    """Each thread call waits for its own release: how many are in flight at once is seen."""

    def __init__(self) -> None:
        super().__init__()
        self.inflight = 0
        self.most = 0
        self.entered = threading.Semaphore(0)
        self.release = threading.Semaphore(0)
        self._lock = threading.Lock()

    def write(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            self.inflight += 1
            self.most = max(self.most, self.inflight)
        self.entered.release()
        assert self.release.acquire(timeout=10)
        with self._lock:
            self.inflight -= 1
            self.rows.extend(rows)


@pytest.mark.parametrize("inflight", [1, 2, 3])
def test_at_most_max_inflight_thread_calls_at_once(inflight: int) -> None:
    store = BlockingStore()
    batcher = AsyncBatcher(store.write, max_inflight=inflight)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        futs = []
        for i in range(inflight + 2):
            futs.append(asyncio.ensure_future(batcher.write([{"v": str(i)}])))
            if i < inflight:  # each of the first `inflight` goes out while the others wait
                assert await loop.run_in_executor(None, store.entered.acquire, True, 10)
        await asyncio.sleep(0.05)
        assert store.inflight == inflight  # the rest queue: no drain beyond the limit
        for _ in range(inflight + 2):
            store.release.release()
        await asyncio.gather(*futs)

    asyncio.run(main())
    assert sorted(int(r["v"]) for r in store.rows) == list(range(inflight + 2))
    assert store.most == inflight

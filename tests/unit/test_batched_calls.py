"""BatchedCalls: coroutines' calls run together in worker threads, each with its own result."""

from __future__ import annotations

import asyncio
import threading

import pytest

from idproof.core.batched_calls import BatchedCalls


def test_calls_are_batched_off_the_loop_and_each_caller_gets_its_result() -> None:
    threads: set[int] = set()

    def square(x: int) -> int:
        threads.add(threading.get_ident())
        if x == 13:
            raise ValueError("thirteen")
        return x * x

    calls = BatchedCalls(square)

    async def main() -> list[int | BaseException]:
        return await asyncio.gather(*(calls.submit(i) for i in range(50)),
                                    return_exceptions=True)

    results = asyncio.run(main())
    assert results[:13] == [i * i for i in range(13)]
    assert isinstance(results[13], ValueError)  # only its own caller sees the failure
    assert results[14:] == [i * i for i in range(14, 50)]
    assert 1 <= calls.calls < 50
    assert threading.get_ident() not in threads  # never on the event loop's thread


def test_batches_respect_the_bound_and_later_submits_start_a_new_drain() -> None:
    sizes: list[int] = []
    calls: BatchedCalls[int, int] = BatchedCalls(lambda x: x, max_batch=8)
    original = calls._run

    def run(items: list[int]) -> list[tuple[int | None, Exception | None]]:
        sizes.append(len(items))
        return original(items)

    calls._run = run  # type: ignore[method-assign]

    async def main() -> None:
        assert await asyncio.gather(*(calls.submit(i) for i in range(20))) == list(range(20))
        await asyncio.sleep(0)
        assert await calls.submit(99) == 99  # after the drain ended: a new one starts

    asyncio.run(main())
    asyncio.run(main())  # another event loop: a queue of its own
    assert max(sizes) <= 8 and sum(sizes) == 42


def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    gate = threading.Event()

    def slow(x: int) -> int:
        gate.wait(5)
        return x

    calls = BatchedCalls(slow)

    async def main() -> tuple[int, int]:
        a, b = calls.submit(1), calls.submit(2)
        a.cancel()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await a
        return await b, calls.calls

    assert asyncio.run(main()) == (2, 1)

"""DekCache: bounds, absolute TTL, invalidation (shred) and thread safety."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idproof.crypto.dek_cache import DekCache


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _dek(n: int) -> bytes:
    return n.to_bytes(32, "big")


def test_put_get_and_miss() -> None:
    cache = DekCache(max_entries=4, ttl_seconds=10, clock=FakeClock())
    assert cache.get("sk_a") is None
    cache.put("sk_a", _dek(1))
    assert cache.get("sk_a") == _dek(1)
    assert "sk_a" in cache and "sk_b" not in cache
    assert len(cache) == 1


def test_entries_expire_at_ttl_and_reads_do_not_extend() -> None:
    clock = FakeClock()
    cache = DekCache(max_entries=4, ttl_seconds=10, clock=clock)
    cache.put("sk_a", _dek(1))
    clock.t += 9.999
    assert cache.get("sk_a") == _dek(1)
    clock.t += 0.001
    assert cache.get("sk_a") is None
    assert len(cache) == 0


def test_bounded_lru_eviction() -> None:
    cache = DekCache(max_entries=3, ttl_seconds=60, clock=FakeClock())
    for i in range(3):
        cache.put(f"sk_{i}", _dek(i))
    cache.get("sk_0")  # most recently used now
    cache.put("sk_3", _dek(3))
    assert len(cache) == 3
    assert cache.get("sk_1") is None
    assert cache.get("sk_0") == _dek(0)
    assert cache.get("sk_3") == _dek(3)


def test_expired_entries_are_evicted_before_live_ones() -> None:
    clock = FakeClock()
    cache = DekCache(max_entries=2, ttl_seconds=10, clock=clock)
    cache.put("sk_old", _dek(1))
    clock.t += 5
    cache.put("sk_live", _dek(2))
    cache.get("sk_old")  # makes the old one most recently used
    clock.t += 6  # sk_old expired, sk_live not
    cache.put("sk_new", _dek(3))
    assert cache.get("sk_live") == _dek(2)
    assert cache.get("sk_new") == _dek(3)


def test_invalidate_and_clear() -> None:
    cache = DekCache(max_entries=4, ttl_seconds=10, clock=FakeClock())
    cache.put("sk_a", _dek(1))
    cache.put("sk_b", _dek(2))
    assert cache.invalidate("sk_a") is True
    assert cache.invalidate("sk_a") is False
    assert cache.get("sk_a") is None
    cache.clear()
    assert len(cache) == 0 and cache.get("sk_b") is None


def test_get_or_load_caches_until_expiry() -> None:
    clock = FakeClock()
    cache = DekCache(max_entries=4, ttl_seconds=10, clock=clock)
    calls: list[str] = []

    def load(key_id: str) -> bytes:
        calls.append(key_id)
        return _dek(len(calls))

    assert cache.get_or_load("sk_a", load) == _dek(1)
    assert cache.get_or_load("sk_a", load) == _dek(1)
    assert calls == ["sk_a"]
    clock.t += 10
    assert cache.get_or_load("sk_a", load) == _dek(2)
    assert calls == ["sk_a", "sk_a"]


def test_invalidate_during_load_is_not_resurrected() -> None:
    cache = DekCache(max_entries=4, ttl_seconds=10, clock=FakeClock())

    def load(key_id: str) -> bytes:
        cache.invalidate(key_id)  # a shred lands while this load is in flight
        return _dek(7)

    assert cache.get_or_load("sk_a", load) == _dek(7)
    assert cache.get("sk_a") is None


def test_loader_errors_propagate_and_cache_nothing() -> None:
    cache = DekCache(max_entries=4, ttl_seconds=10, clock=FakeClock())

    def load(key_id: str) -> bytes:
        raise LookupError("gone")

    with pytest.raises(LookupError):
        cache.get_or_load("sk_a", load)
    assert len(cache) == 0


@pytest.mark.parametrize(("max_entries", "ttl"), [(0, 10), (1, 0), (1, -1)])
def test_rejects_bad_configuration(max_entries: int, ttl: float) -> None:
    with pytest.raises(ValueError):
        DekCache(max_entries=max_entries, ttl_seconds=ttl)


@given(ops=st.lists(st.tuples(st.sampled_from(["put", "get", "inv", "tick"]),
                              st.integers(0, 7)), max_size=200))
def test_model_property(ops: list[tuple[str, int]]) -> None:
    """Never above the bound; a hit always returns the last value put for that key."""
    clock = FakeClock()
    cache = DekCache(max_entries=3, ttl_seconds=5, clock=clock)
    last: dict[str, bytes] = {}
    for n, (op, k) in enumerate(ops):
        key = f"sk_{k}"
        if op == "put":
            last[key] = _dek(n)
            cache.put(key, last[key])
        elif op == "get":
            got = cache.get(key)
            assert got is None or got == last[key]
        elif op == "inv":
            cache.invalidate(key)
            assert cache.get(key) is None
        else:
            clock.t += k
        assert len(cache) <= 3


def test_thread_safety() -> None:
    cache = DekCache(max_entries=50, ttl_seconds=60)
    errors: list[BaseException] = []

    def worker(tid: int) -> None:
        try:
            for i in range(2000):
                key = f"sk_{(tid * 7 + i) % 120}"
                cache.put(key, _dek(i))
                cache.get(key)
                if i % 17 == 0:
                    cache.invalidate(key)
                assert len(cache) <= 50
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(cache) <= 50

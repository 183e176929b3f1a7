"""A bounded, expiring, thread-safe in-memory cache of unwrapped DEKs keyed by subject key id."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class DekCache:
    """LRU cache with an absolute TTL per entry; memory only, never persisted.

    The TTL counts from insertion and is not extended by reads, so a key shredded by another
    process drops out of this one within `ttl_seconds` at the latest. Python cannot reliably
    wipe bytes, so eviction only drops references.
    """

    def __init__(self, max_entries: int = 1024, ttl_seconds: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._max = max_entries
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        # Bumped by invalidate/clear so a load that raced with a shred is not cached.
        self._generation = 0

    def __len__(self) -> int:
        with self._lock:
            self._purge_expired(self._clock())
            return len(self._entries)

    def __contains__(self, key_id: object) -> bool:
        return isinstance(key_id, str) and self.get(key_id) is not None

    def get(self, key_id: str) -> bytes | None:
        """The cached DEK, or None if absent or expired."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key_id)
            if entry is None:
                return None
            expires, dek = entry
            if now >= expires:
                del self._entries[key_id]
                return None
            self._entries.move_to_end(key_id)
            return dek

    def put(self, key_id: str, dek: bytes) -> None:
        """Cache `dek` for `ttl_seconds`, evicting the least recently used beyond the bound."""
        with self._lock:
            self._store(key_id, dek)

    def get_or_load(self, key_id: str, loader: Callable[[str], bytes]) -> bytes:
        """The cached DEK, or `loader(key_id)` (called without the lock held) cached."""
        dek = self.get(key_id)
        if dek is not None:
            return dek
        with self._lock:
            generation = self._generation
        dek = loader(key_id)
        with self._lock:
            # If the key was invalidated (e.g. shredded) while we loaded, hand the value to
            # this caller only; caching it would resurrect a destroyed key.
            if generation == self._generation:
                self._store(key_id, dek)
        return dek

    def invalidate(self, key_id: str) -> bool:
        """Drop `key_id` (used on shred); True if it was cached."""
        with self._lock:
            self._generation += 1
            return self._entries.pop(key_id, None) is not None

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def _store(self, key_id: str, dek: bytes) -> None:
        now = self._clock()
        self._entries[key_id] = (now + self._ttl, bytes(dek))
        self._entries.move_to_end(key_id)
        if len(self._entries) > self._max:
            # Expired entries go before live ones; the O(n) scan only runs when full.
            self._purge_expired(now)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def _purge_expired(self, now: float) -> None:
        expired = [k for k, (exp, _) in self._entries.items() if now >= exp]
        for k in expired:
            del self._entries[k]

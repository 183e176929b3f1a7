"""Brute-force blocking: too many failed authentications from one IP block it service-wide.

Counters live in a `limits` storage: in memory for one process, Redis when configured so that
every replica sees the same failures and the same block.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

_NS = "idproof-bf"


class BruteForceGuard:
    def __init__(self, storage_uri: str, *, max_failures: int, window_seconds: int,
                 block_seconds: int) -> None:
        self.storage: Storage = storage_from_string(storage_uri)
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._item = RateLimitItemPerSecond(max_failures, window_seconds, namespace=_NS)
        self._block_seconds = block_seconds

    @staticmethod
    def _block_key(ip: str) -> str:
        return f"{_NS}/block/{ip}"

    def retry_after(self, ip: str) -> int | None:
        """Seconds until `ip` is unblocked, or None when it is not blocked."""
        key = self._block_key(ip)
        if self.storage.get(key) <= 0:
            return None
        remaining = self.storage.get_expiry(key) - time.time()
        return max(1, math.ceil(remaining))

    def register_failure(self, ip: str) -> bool:
        """Count a failure; True exactly when this failure starts a block."""
        self._limiter.hit(self._item, "fail", ip)
        if self._limiter.test(self._item, "fail", ip):
            return False
        if self.storage.get(self._block_key(ip)) > 0:
            return False
        self.storage.incr(self._block_key(ip), self._block_seconds)
        self._limiter.clear(self._item, "fail", ip)
        return True

    def unblock(self, ip: str) -> None:
        self.storage.clear(self._block_key(ip))
        self._limiter.clear(self._item, "fail", ip)

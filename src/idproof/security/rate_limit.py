"""Per-caller rate limits (moving window) in a `limits` storage: memory, or Redis for replicas."""

from __future__ import annotations

import math
import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter


def sync_storage(uri: str) -> Storage:
    """The synchronous `limits` storage a URI names (memory://, redis://...): `limits` types
    `storage_from_string` as sync or async; an async URI (async+redis://) is refused here."""
    storage = storage_from_string(uri)
    if not isinstance(storage, Storage):
        raise ValueError("rate-limit storage must be synchronous (memory:// or redis://)")
    return storage


@lru_cache(maxsize=32)
def _item(limit: str, namespace: str) -> RateLimitItem:
    parsed = parse(limit)
    return type(parsed)(parsed.amount, parsed.multiples, namespace=namespace)


class RateLimiter:
    """`hit()` counts one call and says how long to wait when the caller is over its limit."""

    def __init__(self, storage_uri: str) -> None:
        self.storage: Storage = sync_storage(storage_uri)
        self._limiter = MovingWindowRateLimiter(self.storage)

    def hit(self, name: str, limit: str, key: str) -> int | None:
        """None when allowed (and counted); else whole seconds until a call is allowed."""
        item = _item(limit, "idproof-rl")
        if self._limiter.hit(item, name, key):
            return None
        reset = self._limiter.get_window_stats(item, name, key).reset_time
        return max(1, math.ceil(reset - time.time()))

    def clear(self, name: str, limit: str, key: str) -> None:
        self._limiter.clear(_item(limit, "idproof-rl"), name, key)

"""Anomaly detectors: pure threshold functions, and the counters that feed them."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.storage import Storage
from limits.strategies import MovingWindowRateLimiter

_NS = "idproof-det"


def over_rate(count: int, threshold: int) -> bool:
    """True when `count` events in the window reach the threshold (pure)."""
    return threshold > 0 and count >= threshold


def baseline_exceeded(today: int, history: Sequence[int], *, factor: float = 10.0,
                      minimum: int = 50) -> bool:
    """PII reads or detokenizations far above the caller's own baseline (pure).

    `history` holds the counts of the same window on earlier days (7 by default). An alert
    needs at least `minimum` reads and more than `factor` times the median of the history;
    with no history the minimum alone decides."""
    if today < minimum:
        return False
    if not history:
        return True
    return today > factor * statistics.median(history)


@dataclass(frozen=True, slots=True)
class Threshold:
    """A count per key within a window that raises one alert per window."""

    name: str
    amount: int
    seconds: int


class WindowCounter:
    """Counts events per key in a moving window (shared storage); says when to alert."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    def count(self, t: Threshold, key: str) -> bool:
        """Count one event; True exactly once per window when the threshold is reached."""
        if t.amount <= 0:
            return False
        item = RateLimitItemPerSecond(t.amount, t.seconds, namespace=_NS)
        if self._limiter.hit(item, t.name, key):
            stats = self._limiter.get_window_stats(item, t.name, key)
            if not over_rate(t.amount - stats.remaining, t.amount):
                return False
        flag = f"{_NS}/alerted/{t.name}/{key}"
        return self.storage.incr(flag, t.seconds) == 1

"""The retry schedule: exponential backoff with jitter (pure)."""

from __future__ import annotations

import random

# Seconds after each failed attempt: about 5 s, 30 s, 2 min, 10 min, 1 h, 6 h, 24 h.
DEFAULT_SCHEDULE: tuple[float, ...] = (5, 30, 120, 600, 3600, 21_600, 86_400)
JITTER = 0.2  # +/- 20 %: receivers that failed together do not get retried in lockstep


def retry_delay(failed_attempts: int, schedule: tuple[float, ...] | list[float],
                rng: random.Random | None = None) -> float | None:
    """Seconds to wait after the `failed_attempts`-th failure, or None when it was the last."""
    if failed_attempts < 1 or failed_attempts > len(schedule):
        return None
    base = float(schedule[failed_attempts - 1])
    r = rng or random.SystemRandom()
    return max(0.0, base * (1 + r.uniform(-JITTER, JITTER)))

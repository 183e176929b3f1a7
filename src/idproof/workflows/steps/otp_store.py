"""Where one-time code states live: Redis (shared by every worker) or memory (one process)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from idproof.workflows.steps.otp import OtpState

T = TypeVar("T")
# fn gets the current state (or None) and returns (state to store or None to keep, result).
Update = Callable[[OtpState | None], tuple[OtpState | None, T]]
_PREFIX = "idproof:otp:"
_KEEP_SECONDS = 86_400  # a state outlives its code so the send cap holds for a day


class OtpStore(Protocol):
    def update(self, scope: str, fn: Update[T]) -> T:
        """Read, change and write the state of `scope` atomically; exceptions from `fn`
        propagate after a state it attached (OtpCheckFailed.state) is stored."""
        ...


def _attached(exc: Exception) -> OtpState | None:
    state = getattr(exc, "state", None)
    return state if isinstance(state, OtpState) else None


class MemoryOtpStore:
    """For one process (development, tests of the pure parts)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[float, OtpState]] = {}

    def update(self, scope: str, fn: Update[T]) -> T:
        with self._lock:
            hit = self._data.get(scope)
            current = hit[1] if hit and hit[0] > time.time() else None
            try:
                new, result = fn(current)
            except Exception as exc:
                kept = _attached(exc)
                if kept is not None:
                    self._data[scope] = (time.time() + _KEEP_SECONDS, kept)
                raise
            if new is not None:
                self._data[scope] = (time.time() + _KEEP_SECONDS, new)
            return result


class RedisOtpStore:
    """Optimistic transactions (WATCH/MULTI): two workers checking the same code at once
    cannot both count one attempt or both accept one code."""

    def __init__(self, client: Any) -> None:
        self._r = client

    def update(self, scope: str, fn: Update[T]) -> T:
        import redis  # the client library; only needed when Redis is configured

        key = _PREFIX + scope
        while True:
            with self._r.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    current = OtpState.from_dict(json.loads(raw)) if raw else None
                    try:
                        new, result = fn(current)
                    except Exception as exc:
                        kept = _attached(exc)
                        if kept is not None:
                            self._write(pipe, key, kept)
                        raise
                    if new is not None:
                        self._write(pipe, key, new)
                    else:
                        pipe.unwatch()
                    return result
                except redis.WatchError:
                    continue  # another worker changed it between read and write: again

    @staticmethod
    def _write(pipe: Any, key: str, state: OtpState) -> None:
        pipe.multi()
        pipe.set(key, json.dumps(state.as_dict()), ex=_KEEP_SECONDS)
        pipe.execute()

"""The task queue as services see it: a name and ids, run later by a worker."""

from __future__ import annotations

from typing import Protocol


class TaskQueue(Protocol):
    """Queue `task` with `args` (ids only, never personal data), after `delay` seconds."""

    def enqueue(self, task: str, *args: str, delay: float = 0.0) -> None: ...

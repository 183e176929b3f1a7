"""A task queue for tests: holds the tasks a test runs itself, passes the others on."""

from __future__ import annotations

from idproof.core.tasks import TaskQueue


class TaskLog:
    """A `TaskQueue` recording the tasks named in `held` (their arguments, in order) and
    passing every other task on to `forward` (the container's real queue)."""

    def __init__(self, *held: str) -> None:
        self.held = set(held)
        self.forward: TaskQueue | None = None
        self._calls: dict[str, list[tuple[str, ...]]] = {}

    def of(self, task: str) -> list[tuple[str, ...]]:
        """The held calls of `task` (a live list: later calls are appended to it)."""
        return self._calls.setdefault(task, [])

    def enqueue(self, task: str, *args: str, delay: float = 0.0) -> None:
        if task in self.held:
            self.of(task).append(args)
        elif self.forward is not None:
            self.forward.enqueue(task, *args, delay=delay)

"""Task queue wiring (Huey): SQLite storage embedded, Redis storage when a Redis URL is set.

Tasks carry ids only, never personal data, and store no results. A task lost with a killed
worker is not lost for good: the periodic sweep re-queues work stuck in `processing`.

Webhook deliveries have a queue and worker threads of their own: a slow or hanging receiver
holds webhook threads only, never the document jobs a person is waiting for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import structlog
from huey import Huey, crontab
from huey.consumer import Consumer

log = structlog.get_logger("idproof.jobs")


WEBHOOK_QUEUE_SUFFIX = ".webhooks"
Queue = Literal["documents", "webhooks"]


class Jobs:
    """idproof's tasks on two Huey queues (documents and sweeps; webhooks): registered by
    name in bootstrap's table (`handle`, `every`), queued by the services through the
    `TaskQueue` protocol (`enqueue`)."""

    def __init__(self, huey: Huey, *, webhook_huey: Huey | None = None,
                 webhook_threads: int = 2) -> None:
        self.huey = huey
        self.webhook_huey = webhook_huey or huey
        self._webhook_threads = webhook_threads
        self._tasks: dict[str, Any] = {}
        self._consumers: list[Consumer] = []

    def _queue(self, queue: Queue) -> Huey:
        return self.webhook_huey if queue == "webhooks" else self.huey

    def handle(self, name: str, fn: Callable[..., Any], *, queue: Queue = "documents",
               retries: int = 0, retry_delay: int = 0) -> None:
        """Run `fn(*args)` for each `enqueue(name, *args)`, on the documents or webhooks queue."""
        self._tasks[name] = self._queue(queue).task(
            retries=retries, retry_delay=retry_delay, name=name)(self._wrap(name, fn))

    def every(self, name: str, fn: Callable[[], Any], *, minutes: int = 1,
              queue: Queue = "documents") -> None:
        """Run `fn()` every `minutes` minutes (in whichever consumer of the queue is up)."""
        when = crontab(minute="*" if minutes == 1 else f"*/{minutes}")
        self._queue(queue).periodic_task(when, name=name)(self._wrap(name, fn))

    def enqueue(self, task: str, *args: str, delay: float = 0.0) -> None:
        """Queue a registered task (a `TaskQueue`): ids only, never personal data."""
        registered = self._tasks[task]
        if delay > 0:
            registered.schedule(args, delay=delay)
        else:
            registered(*args)

    @staticmethod
    def _wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            try:
                return fn(*args)
            except Exception as exc:
                # The type only: messages may quote data.
                log.warning("job_failed", job=name, error_type=type(exc).__name__)
                raise

        run.__name__ = name
        return run

    @property
    def queues(self) -> list[Huey]:
        """Every queue, each once (one when webhooks share the document queue)."""
        return [self.huey] if self.webhook_huey is self.huey else [self.huey,
                                                                   self.webhook_huey]

    def flush(self) -> None:
        """Drop every queued task (what a lost queue does; the sweeps bring the work back)."""
        for queue in self.queues:
            queue.flush()

    def consumers(self, workers: int = 2) -> list[Consumer]:
        """A consumer per queue: `workers` threads for documents and sweeps, the configured
        webhook threads for deliveries."""
        out = []
        for queue in self.queues:
            threads = workers if queue is self.huey else self._webhook_threads
            out.append(queue.create_consumer(workers=threads, worker_type="thread",
                                             periodic=True, initial_delay=0.05,
                                             max_delay=0.5, check_worker_health=True))
        return out

    def start_consumer(self, workers: int = 2) -> list[Consumer]:
        """Run the consumers inside this process (what `idproof serve` does by default)."""
        self._consumers = self.consumers(workers)
        for consumer in self._consumers:
            consumer.start()
        return self._consumers

    def stop_consumer(self) -> None:
        for consumer in self._consumers:
            consumer.stop(graceful=True)
        self._consumers = []

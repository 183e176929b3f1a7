"""Task queue wiring (Huey): SQLite storage embedded, Redis storage when a Redis URL is set.

Tasks carry ids only, never personal data, and store no results. A task lost with a killed
worker is not lost for good: the periodic sweep re-queues work stuck in `processing`.

Webhook deliveries have a queue and worker threads of their own: a slow or hanging receiver
holds webhook threads only, never the document jobs a person is waiting for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer

from idproof.config import Settings

log = structlog.get_logger("idproof.jobs")


WEBHOOK_QUEUE_SUFFIX = ".webhooks"


def make_huey(settings: Settings, *, immediate: bool = False, suffix: str = "") -> Huey:
    """The queue named `jobs.queue_name` + `suffix`, in Redis when configured, else in the
    data dir's SQLite file (several queues share it, one name each)."""
    name = settings.jobs.queue_name + suffix
    if settings.redis_url is not None:
        return RedisHuey(name, url=settings.redis_url.get_secret_value(),
                         results=False, immediate=immediate, utc=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return SqliteHuey(name, filename=str(settings.data_dir / "queue.db"),
                      results=False, immediate=immediate, utc=True)


class Jobs:
    """Registers idproof's tasks on two Huey queues (documents and sweeps; webhooks) and
    enqueues them."""

    def __init__(self, huey: Huey, *, process_capture: Callable[[str, str], None],
                 sweep: Callable[[], Any], sweep_every_minutes: int = 1,
                 deliver_webhook: Callable[[str], Any] | None = None,
                 webhook_sweep: Callable[[], Any] | None = None,
                 webhook_huey: Huey | None = None, webhook_threads: int = 2) -> None:
        self.huey = huey
        self.webhook_huey = webhook_huey or huey
        self._webhook_threads = webhook_threads
        # Webhooks: one attempt per task (the service keeps its own retry schedule, so Huey
        # does not retry); the sweep queues due deliveries again after a restart or a loss.
        self._deliver = self.webhook_huey.task(name="deliver_webhook")(
            self._wrap("deliver_webhook", deliver_webhook or (lambda _d: None)))
        if webhook_sweep is not None:
            self.webhook_huey.periodic_task(crontab(minute="*"), name="webhook_sweep")(
                self._wrap("webhook_sweep", webhook_sweep))
        self._process = huey.task(retries=3, retry_delay=2, name="process_capture")(
            self._wrap("process_capture", process_capture))
        self._sweep_fn = sweep
        huey.periodic_task(crontab(minute=f"*/{sweep_every_minutes}"), name="sweep")(
            self._wrap("sweep", sweep))
        self._consumers: list[Consumer] = []

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

    def enqueue_capture(self, session_id: str, capture_id: str) -> None:
        self._process(session_id, capture_id)

    def enqueue_webhook(self, delivery_id: str, delay: float = 0.0) -> None:
        if delay > 0:
            self._deliver.schedule((delivery_id,), delay=delay)
        else:
            self._deliver(delivery_id)

    def sweep_now(self) -> Any:
        return self._sweep_fn()

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

"""The periodic checkpoint task: every replica signs the tree head every `every_seconds`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import structlog

from idproof.audit.log import AuditLog
from idproof.core.clock import Clock

log = structlog.get_logger("idproof.audit")

@asynccontextmanager
async def periodic_checkpoints(audit_log: AuditLog, clock: Clock,
                               tick: float = 5.0) -> AsyncIterator[None]:
    """Run `maybe_checkpoint` in the background while the context is open (the app lifespan).

    Every replica runs one; checkpointing takes the head lock and skips sizes already signed,
    so they never duplicate work.
    """
    if audit_log.every_seconds <= 0:
        yield
        return
    interval = min(tick, audit_log.every_seconds)
    stop = asyncio.Event()

    async def loop() -> None:
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
            try:
                await asyncio.to_thread(audit_log.maybe_checkpoint, clock.now())
            except Exception as exc:  # a database hiccup must not end the task
                log.error("audit_checkpoint_failed", error_type=type(exc).__name__)

    task = asyncio.create_task(loop(), name="idproof-audit-checkpoints")
    try:
        yield
    finally:
        # Not cancel(): a checkpoint being signed in its thread finishes before the
        # database is closed under it.
        stop.set()
        await task

"""Re-reading a cached view ahead of its expiry, in one worker thread that no request waits for.

A view that every request reads (the key ring, the revocations, a client) and that goes stale
at a known time would otherwise make every request of a busy process stop together when it
does, each handing a thread the same re-read while the event loop holds the GIL: the p99 of
`GET /v1/me` and of the grants. Re-read in the second half of their interval, by the first
request that notices, the views of a busy process never go stale; an idle one still re-reads
on the spot, so the staleness bound is unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

import structlog

log = structlog.get_logger("idproof.auth")


class RefreshAhead:
    """Single-flight background re-reads, keyed by view; used from the event loop only."""

    def __init__(self) -> None:
        self._running: set[str] = set()

    def start(self, key: str, refresh: Callable[[], object]) -> None:
        """Run `refresh` in the loop's default executor unless one for `key` still runs."""
        if key in self._running:
            return
        self._running.add(key)
        future = asyncio.get_running_loop().run_in_executor(None, refresh)
        future.add_done_callback(partial(self._done, key))

    def _done(self, key: str, future: asyncio.Future[object]) -> None:
        self._running.discard(key)
        if not future.cancelled() and future.exception() is not None:
            # The next request re-reads on the spot if the view goes stale meanwhile.
            log.warning("view_refresh_failed", view=key.partition(":")[0],
                        error_type=type(future.exception()).__name__)

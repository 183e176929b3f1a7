"""Typed notification channels for what is not a tenant's domain event.

An owner (the audit log, the rate limits, the brute-force guard) is given its channels in its
constructor and publishes to them; `bootstrap._wire` subscribes the listeners, so who reacts
to what stays readable in one table. A listener's failure is logged and never reaches the
publisher: a detector must not turn a refused request, or a committed audit event, into an
error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger("idproof.channel")

T = TypeVar("T")


class Channel(Generic[T]):
    """Listeners of one kind of notification, called in subscription order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Callable[[T], object]] = []

    def subscribe(self, listener: Callable[[T], object]) -> None:
        self._listeners.append(listener)

    def publish(self, item: T) -> None:
        for listener in self._listeners:
            try:
                listener(item)
            except Exception as exc:  # the publisher's work is done; a listener cannot undo it
                log.error("channel_listener_failed", channel=self.name,
                          error_type=type(exc).__name__)

    def listeners(self) -> list[str]:
        """The listeners' names in order, for docs and tests."""
        return [getattr(fn, "__qualname__", repr(fn)) for fn in self._listeners]

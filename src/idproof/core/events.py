"""Domain events: what happened, named and typed, published by the service that owns it.

An event carries ids only (never personal data). It is published inside the transaction that
made it happen, and every handler runs in that transaction, in the order of the subscription
table in `bootstrap.py`: what reacts to what is readable in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened in a tenant's data."""

    tenant_id: str


@dataclass(frozen=True, slots=True)
class SessionEvent(Event):
    """A verification session's lifecycle changed; `name` is the webhook event type."""

    session_id: str
    name: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class SessionCreated(SessionEvent):
    name: ClassVar[str] = "session.created"


@dataclass(frozen=True, slots=True)
class SessionStarted(SessionEvent):
    name: ClassVar[str] = "session.started"


@dataclass(frozen=True, slots=True)
class SessionSubmitted(SessionEvent):
    name: ClassVar[str] = "session.submitted"


@dataclass(frozen=True, slots=True)
class SessionReviewed(SessionEvent):
    name: ClassVar[str] = "session.reviewed"


@dataclass(frozen=True, slots=True)
class SessionDecided(SessionEvent):
    name: ClassVar[str] = "session.decided"


@dataclass(frozen=True, slots=True)
class SessionExpired(SessionEvent):
    name: ClassVar[str] = "session.expired"


@dataclass(frozen=True, slots=True)
class SessionCancelled(SessionEvent):
    name: ClassVar[str] = "session.cancelled"


@dataclass(frozen=True, slots=True)
class SessionErased(SessionEvent):
    name: ClassVar[str] = "session.erased"


SESSION_EVENTS: dict[str, type[SessionEvent]] = {
    cls.name: cls for cls in (SessionCreated, SessionStarted, SessionSubmitted,
                              SessionReviewed, SessionDecided, SessionExpired,
                              SessionCancelled, SessionErased)}


@dataclass(frozen=True, slots=True)
class DocumentFrontStored(Event):
    """A new document front was stored: face results compared with the old portrait go."""

    session_id: str


@dataclass(frozen=True, slots=True)
class StepCompleted(Event):
    """A step of a session got its final result (passed or failed): a step that runs by
    itself once the session reaches it (screening) may be due."""

    session_id: str
    step: str


E = TypeVar("E", bound=Event)
# A handler gets the transaction (the SQLAlchemy session; `core` imports no database code)
# and the event.
Handler = Callable[[Any, E], None]


class EventBus:
    """Publish events to the handlers subscribed to their class or to a base class."""

    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler[Any]]] = {}

    def subscribe(self, kind: type[E], handler: Handler[E]) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    def publish(self, tx: Any, event: Event) -> None:
        # Handlers of the exact class first, then of its bases: a specific reaction (raw
        # images due at the decision) runs before a generic one (the webhook outbox).
        for kind in type(event).__mro__:
            for handler in self._handlers.get(kind, ()):
                handler(tx, event)

    def subscriptions(self) -> list[tuple[str, str]]:
        """(event class, handler) pairs in order, for docs and tests."""
        return [(kind.__name__, getattr(h, "__qualname__", repr(h)))
                for kind, handlers in self._handlers.items() for h in handlers]

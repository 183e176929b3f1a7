"""Session statuses and the transitions allowed between them (pure)."""

from __future__ import annotations

from enum import StrEnum

from idproof.core.errors import Conflict


class Status(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    PROCESSING = "processing"
    APPROVED = "approved"
    DECLINED = "declined"
    IN_REVIEW = "in_review"
    EXPIRED = "expired"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"  # the person said stop (hosted flow or the SDK's close)


FINAL = frozenset({Status.APPROVED, Status.DECLINED, Status.EXPIRED, Status.ABANDONED,
                   Status.CANCELLED})
DECIDED = frozenset({Status.APPROVED, Status.DECLINED, Status.IN_REVIEW})

_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.NOT_STARTED: frozenset({Status.IN_PROGRESS, Status.EXPIRED, Status.ABANDONED,
                                   Status.CANCELLED}),
    Status.IN_PROGRESS: frozenset({Status.PROCESSING, Status.EXPIRED, Status.ABANDONED,
                                   Status.CANCELLED}),
    Status.PROCESSING: frozenset({Status.APPROVED, Status.DECLINED, Status.IN_REVIEW}),
    # A reviewer settles a session in review, or asks the person to redo steps.
    Status.IN_REVIEW: frozenset({Status.APPROVED, Status.DECLINED, Status.IN_PROGRESS}),
    Status.APPROVED: frozenset(),
    Status.DECLINED: frozenset(),
    Status.EXPIRED: frozenset(),
    Status.ABANDONED: frozenset(),
    Status.CANCELLED: frozenset(),
}


def can_transition(current: Status, target: Status) -> bool:
    return target in _ALLOWED[current]


def transition(current: Status, target: Status) -> Status:
    """The new status, or a 409 `illegal_transition` problem."""
    if not can_transition(current, target):
        raise Conflict(f"a session cannot go from {current.value} to {target.value}",
                       code="illegal_transition")
    return target


def lapsed(status: Status) -> Status:
    """What an open session becomes when its time runs out: `expired` if the person never
    began, `abandoned` if they began and never submitted."""
    if status == Status.NOT_STARTED:
        return Status.EXPIRED
    if status == Status.IN_PROGRESS:
        return Status.ABANDONED
    raise Conflict(f"a {status.value} session does not lapse", code="illegal_transition")


def accepts_captures(status: Status) -> bool:
    return status in {Status.NOT_STARTED, Status.IN_PROGRESS}

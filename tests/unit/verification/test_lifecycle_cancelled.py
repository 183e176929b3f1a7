"""The `cancelled` status: the person's own stop, final, reachable only from an open session."""

from __future__ import annotations

import pytest

from idproof.core.errors import Conflict
from idproof.verification.lifecycle import (
    FINAL,
    Status,
    accepts_captures,
    can_transition,
    transition,
)


@pytest.mark.parametrize("start", [Status.NOT_STARTED, Status.IN_PROGRESS])
def test_an_open_session_can_be_cancelled(start: Status) -> None:
    assert transition(start, Status.CANCELLED) == Status.CANCELLED


@pytest.mark.parametrize("start", [s for s in Status
                                   if s not in (Status.NOT_STARTED, Status.IN_PROGRESS)])
def test_nothing_else_can_be_cancelled(start: Status) -> None:
    assert not can_transition(start, Status.CANCELLED)
    with pytest.raises(Conflict):
        transition(start, Status.CANCELLED)


def test_cancelled_is_final_and_closed() -> None:
    assert Status.CANCELLED in FINAL
    assert not accepts_captures(Status.CANCELLED)
    assert not any(can_transition(Status.CANCELLED, s) for s in Status)

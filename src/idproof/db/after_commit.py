"""Run work once a unit of work has committed (queue a job only when its rows exist)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session

log = structlog.get_logger("idproof.db")

_PENDING = "idproof.after_commit"
_HOOKED = "idproof.after_commit.hooked"


def after_commit(session: Session, fn: Callable[[], object]) -> None:
    """Call `fn` after the outermost transaction of `session` commits; never if it rolls
    back. A failing `fn` is logged (its type only) and does not affect the others: the data
    is committed, and each caller has a sweep that picks up what was not queued."""
    pending: list[Callable[[], object]] = session.info.setdefault(_PENDING, [])
    if not session.info.get(_HOOKED):  # once per session object, however many transactions
        session.info[_HOOKED] = True
        event.listen(session, "after_commit", _run)
        event.listen(session, "after_soft_rollback", _drop)
    pending.append(fn)


def _run(session: Session) -> None:
    if session.in_nested_transaction():
        # Releasing a savepoint fires after_commit too; the outer transaction is still open,
        # so its work waits for the real commit.
        return
    for fn in session.info.pop(_PENDING, None) or []:
        try:
            fn()
        except Exception as exc:
            # The task's code name and the error's type only: messages may quote data.
            task = getattr(getattr(fn, "func", fn), "__qualname__", "?")  # partial() too
            log.warning("after_commit_failed", task=task,
                        error_type=type(exc).__name__)


def _drop(session: Session, previous: Any) -> None:
    if not previous.nested:  # the whole transaction: nothing it queued happened
        session.info.pop(_PENDING, None)

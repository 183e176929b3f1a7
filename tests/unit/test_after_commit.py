"""db.after_commit: work runs once the outermost commit is done, never after a rollback, and a
failing piece is logged by type only (its message may quote personal data)."""

from __future__ import annotations

from functools import partial

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from idproof.db.after_commit import after_commit


def _session() -> Session:
    return Session(create_engine("sqlite://"))


def test_runs_after_the_outermost_commit_only() -> None:
    ran: list[str] = []
    with _session() as s:
        s.execute(text("select 1"))
        with s.begin_nested():
            after_commit(s, lambda: ran.append("queued in a savepoint"))
        assert ran == []  # releasing a savepoint is not the commit
        after_commit(s, partial(ran.append, "queued"))
        assert ran == []
        s.commit()
    assert ran == ["queued in a savepoint", "queued"]


def test_a_rollback_drops_the_work() -> None:
    ran: list[str] = []
    with _session() as s:
        s.execute(text("select 1"))
        after_commit(s, lambda: ran.append("never"))
        s.rollback()
        s.execute(text("select 1"))
        s.commit()
    assert ran == []


def test_a_failure_is_logged_by_type_and_the_rest_still_runs() -> None:
    ran: list[str] = []

    def leaks() -> None:
        raise ValueError("surname DOE, passport X1234567")

    with _session() as s, capture_logs() as logs:
        s.execute(text("select 1"))
        after_commit(s, leaks)
        after_commit(s, partial(ran.append, "after"))
        s.commit()
    assert ran == ["after"]
    assert logs == [{"event": "after_commit_failed", "log_level": "warning",
                     "task": "test_a_failure_is_logged_by_type_and_the_rest_still_runs."
                             "<locals>.leaks", "error_type": "ValueError"}]
    assert "DOE" not in repr(logs) and "X1234567" not in repr(logs)

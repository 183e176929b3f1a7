"""Group commit on SQLite and PostgreSQL: every caller's rows committed, commits shared."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text
from sqlalchemy.exc import IntegrityError

from idproof.db.engine import Database

_META = MetaData()
_T = Table("group_commit_probe", _META, Column("id", Integer, primary_key=True),
           Column("who", String(32), nullable=False))


@pytest.fixture
def db(db_url: str) -> Any:
    database = Database(db_url)
    _META.create_all(database.engine)
    yield database
    _META.drop_all(database.engine)
    database.dispose()


def _run_threads(n: int, target: Any) -> list[BaseException | None]:
    errors: list[BaseException | None] = [None] * n
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        try:
            target(i)
        except BaseException as exc:  # recorded for the assertion below
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_concurrent_inserts_all_committed_in_fewer_transactions(db: Database) -> None:
    per_thread, threads = 40, 16

    def work(i: int) -> None:
        for k in range(per_thread):
            db.insert_grouped(_T, [{"id": i * 1000 + k, "who": f"t{i}"}])

    assert _run_threads(threads, work) == [None] * threads
    with db.read() as s:
        ids = sorted(s.scalars(select(_T.c.id)))
    assert ids == sorted(i * 1000 + k for i in range(threads) for k in range(per_thread))
    assert db._group.transactions < threads * per_thread  # commits were shared


def test_a_bad_row_fails_only_its_own_caller(db: Database) -> None:
    db.insert_grouped(_T, [{"id": 1, "who": "first"}])
    gate = threading.Event()

    def work(i: int) -> None:
        gate.wait(5)
        # Thread 0 repeats id 1 (a primary key conflict); the others insert fresh ids.
        db.insert_grouped(_T, [{"id": 1 if i == 0 else 100 + i, "who": f"t{i}"}])

    gate.set()
    errors = _run_threads(8, work)
    assert isinstance(errors[0], IntegrityError)
    assert errors[1:] == [None] * 7
    with db.read() as s:
        rows = dict(s.execute(select(_T.c.id, _T.c.who)).all())
    assert rows == {1: "first", **{100 + i: f"t{i}" for i in range(1, 8)}}


def test_inside_a_write_on_the_same_thread_it_does_not_wait_for_itself(db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("the write lock exists on SQLite only")
    with db._write_lock:  # type: ignore[union-attr]  # as a unit of work in progress holds it
        db.insert_grouped(_T, [{"id": 7, "who": "nested"}])
    with db.read() as s:
        assert s.scalar(select(_T.c.who).where(_T.c.id == 7)) == "nested"


def test_a_connection_lost_between_writes_is_replaced(db: Database) -> None:
    """The grouped INSERTs' own connection, closed by the server between two writes (a
    restart, an idle timeout): the next write opens another one and succeeds."""
    if db.dialect != "postgresql":
        pytest.skip("a server that closes connections")
    db.insert_grouped(_T, [{"id": 1, "who": "before"}])
    idle = db._raw._idle  # type: ignore[union-attr]
    assert len(idle) == 1
    pid = idle[0].dbapi_connection.info.backend_pid  # type: ignore[union-attr]
    with db.engine.connect() as c:
        assert c.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        # The call only signals the backend: wait until it has said goodbye and gone.
        deadline = time.monotonic() + 10
        while c.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"),
                       {"p": pid}):
            assert time.monotonic() < deadline, "the backend did not end"
            time.sleep(0.02)
    written = db._group.transactions  # type: ignore[attr-defined]
    db.insert_grouped(_T, [{"id": 2, "who": "after"}])
    # Replaced before use (the server's goodbye was waiting on it), not found dead by a
    # failed batch that each caller then writes again on its own.
    assert db._group.transactions == written + 1  # type: ignore[attr-defined]
    with db.read() as s:
        assert dict(s.execute(select(_T.c.id, _T.c.who)).all()) == {1: "before", 2: "after"}


def test_rows_keep_their_order_within_a_transaction(db: Database) -> None:
    """A caller's rows are inserted in the order given (the ids the database assigns follow
    it), whatever order each row's keys are in."""
    names = [f"r{i:02d}" for i in range(20)]
    db.insert_grouped(_T, [{"who": n} for n in names])
    db.insert_grouped(_T, [{"who": "x", "id": 1000}, {"id": 1001, "who": "y"}])
    with db.read() as s:
        got = list(s.execute(select(_T.c.id, _T.c.who).order_by(_T.c.id)).all())
    assert [w for _, w in got] == [*names, "x", "y"]
    assert [i for i, _ in got][-2:] == [1000, 1001]

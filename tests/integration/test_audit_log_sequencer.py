"""The audit log as a queue plus a sequencer: pending events, integration in batches, a
sequencer killed mid-batch, a writer killed before integration, concurrent writers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, make_url, select, text

from idproof.audit.events import AuditEvent
from idproof.audit.models import AuditEventRow, AuditPending
from idproof.audit.sequencer import Sequencer
from idproof.bootstrap import Container
from tests.audit_sequencer_support import queue_from_process
from tests.helpers import bearer, get_token

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _log_key(container: Container) -> None:
    container.audit_log.ensure_key()  # so that verify() checks signed checkpoints too


def _events(container: Container) -> list[tuple[int, str, str | None, dict[str, Any]]]:
    with container.db.read() as s:
        return [(r.idx, r.action, r.actor_id, r.details) for r in
                s.scalars(select(AuditEventRow).order_by(AuditEventRow.idx))]


def _assert_dense_and_valid(container: Container) -> None:
    with container.db.read() as s:
        count, low, high, distinct = s.execute(select(
            func.count(), func.min(AuditEventRow.idx), func.max(AuditEventRow.idx),
            func.count(func.distinct(AuditEventRow.idx)))).one()
    assert (low, high, distinct) == (0, count - 1, count)  # dense, no duplicate
    assert container.audit_log.size() == count
    report = container.audit_log.verify()
    assert report.ok, (report.finding, report.problems)


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.audit_sequencer_support", *args],
                            cwd=str(REPO), stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def _kill9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def test_recording_only_queues_until_integrated(container: Container) -> None:
    container.audit.inline = False
    size = container.audit_log.size()
    ids = container.audit.record_many(AuditEvent(action="q.event", details={"i": i})
                                      for i in range(3))
    assert container.audit_log.size() == size
    assert container.audit.pending_count() == 3
    assert container.audit_log.event(ids[0], tenant_id=None)["status"] == "pending"
    assert container.audit.integrate_all() == 3
    assert container.audit.pending_count() == 0
    got = [container.audit_log.event(i, tenant_id=None) for i in ids]
    assert [g["status"] for g in got] == ["integrated"] * 3
    assert [g["index"] for g in got] == [size, size + 1, size + 2]
    _assert_dense_and_valid(container)


def test_pending_event_served_as_pending(api, container: Container, make_client) -> None:
    reader = make_client("demo", scopes="audit.read")
    headers = bearer(get_token(api, reader))
    demo = container.tenants.find("demo")
    assert demo is not None
    container.audit.inline = False
    event_id = container.audit.record(AuditEvent(action="demo.pending", tenant_id=demo.id,
                                                 target_type="session", target_id="ses_1"))
    r = api.get(f"/v1/audit/events/{event_id}", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "pending" and body["index"] is None
    assert body["id"] == event_id and body["action"] == "demo.pending"
    assert body["leaf_hash"]
    # another tenant cannot see it, pending or not; an unknown id is the same 404
    other = make_client("other", scopes="audit.read")
    theirs = bearer(get_token(api, other))
    assert api.get(f"/v1/audit/events/{event_id}", headers=theirs).status_code == 404
    assert api.get("/v1/audit/events/aev_nope", headers=headers).status_code == 404
    container.audit.integrate_all()
    body = api.get(f"/v1/audit/events/{event_id}", headers=headers).json()
    assert body["status"] == "integrated" and isinstance(body["index"], int)
    listed = api.get("/v1/audit/events", params={"action": "demo.pending"},
                     headers=headers).json()["events"]
    assert [e["index"] for e in listed] == [body["index"]]
    assert listed[0]["leaf_hash"] == body["leaf_hash"]
    assert api.get(f"/v1/audit/events/{event_id}", headers=theirs).status_code == 404


def test_pending_rows_cannot_be_changed_or_dropped(container: Container) -> None:
    container.audit.inline = False
    container.audit.record(AuditEvent(action="q.event"))
    for statement in ("UPDATE audit_pending SET action = 'x'", "DELETE FROM audit_pending"):
        with pytest.raises(Exception), container.db.engine.begin() as c:
            c.execute(text(statement))
    assert container.audit.pending_count() == 1


def test_writer_killed_after_insert_loses_nothing(container: Container) -> None:
    """kill -9 of a process whose events are committed to the queue, never integrated."""
    size = container.audit_log.size()
    proc = _spawn("record", container.settings.sqlalchemy_url(), "25")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "recorded"
    finally:
        _kill9(proc)
    assert container.audit.pending_count() == 25
    assert container.audit.integrate_all() == 25
    rows = [e for e in _events(container) if e[1] == "crash.recorded"]
    assert [r[3]["i"] for r in rows] == list(range(25))
    assert container.audit_log.size() == size + 25
    _assert_dense_and_valid(container)


def test_sequencer_killed_mid_batch_then_restarted(container: Container) -> None:
    """kill -9 of the elected sequencer inside its integration transaction: the batch rolls
    back with it, the election lock goes with the process, the next sequencer takes over."""
    container.audit.inline = False
    size = container.audit_log.size()
    container.audit.record_many(AuditEvent(action="crash.batch", details={"i": i})
                                for i in range(40))
    proc = _spawn("integrate", container.settings.sqlalchemy_url())
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "inside 40"
    finally:
        _kill9(proc)
    assert container.audit_log.size() == size
    assert container.audit.pending_count() == 40
    seq = Sequencer(container.audit, container.db)
    try:
        assert seq.run_once() == 40  # elected: the dead process's lock is gone
    finally:
        seq.stop()
    assert [e[3]["i"] for e in _events(container) if e[1] == "crash.batch"] == list(range(40))
    assert container.audit.pending_count() == 0
    _assert_dense_and_valid(container)


def test_failed_batch_changes_nothing(container: Container, monkeypatch) -> None:
    container.audit.inline = False
    size = container.audit_log.size()
    container.audit.record_many(AuditEvent(action="q.event", details={"i": i})
                                for i in range(5))
    real = container.audit._write_batch

    def broken(*a: Any) -> int:
        real(*a)
        raise RuntimeError("disk full")

    monkeypatch.setattr(container.audit, "_write_batch", broken)
    with pytest.raises(RuntimeError):
        container.audit.integrate()
    monkeypatch.undo()
    assert container.audit_log.size() == size and container.audit.pending_count() == 5
    assert container.audit.integrate_all() == 5
    _assert_dense_and_valid(container)


def test_an_integration_between_the_read_and_the_lock_is_seen(container: Container,
                                                              monkeypatch) -> None:
    """The batch is read and hashed before the write lock; if another integrator moved the
    head meanwhile, the queue is read again under the lock (never integrated twice)."""
    from idproof.audit import service as service_module
    from idproof.audit.service import AuditService

    container.audit.inline = False
    size = container.audit_log.size()
    container.audit.record_many(AuditEvent(action="race.first", details={"i": i})
                                for i in range(5))
    other = AuditService(container.db, inline=False)  # as in another process
    real, raced = service_module.prepare_batch, []

    def prepare_then_race(*a: Any) -> Any:
        prepared = real(*a)
        if not raced:
            raced.append(True)
            assert other.integrate() == 5  # takes the five first
            container.audit.record_many(AuditEvent(action="race.second", details={"i": i})
                                        for i in range(3))
        return prepared

    monkeypatch.setattr(service_module, "prepare_batch", prepare_then_race)
    assert container.audit.integrate() == 3  # only what was still queued under the lock
    monkeypatch.undo()
    assert container.audit_log.size() == size + 8 and container.audit.pending_count() == 0
    actions = [e[1] for e in _events(container)[size:]]
    assert actions == ["race.first"] * 5 + ["race.second"] * 3
    _assert_dense_and_valid(container)


def test_the_sequencer_checkpoints_the_wal_not_the_writers(container: Container,
                                                          settings) -> None:
    """A writer whose COMMIT checkpointed held every other writer's lock meanwhile: the
    writers leave the WAL alone (up to a high bound); the sequencer copies it after a pass."""
    from idproof.db.engine import WAL_AUTOCHECKPOINT_PAGES

    if container.db.dialect != "sqlite":
        pytest.skip("SQLite's WAL")
    container.audit.inline = False
    path = Path(str(make_url(settings.sqlalchemy_url()).database))
    with container.db.read() as s:
        pragma = s.connection().exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert pragma == WAL_AUTOCHECKPOINT_PAGES
    container.db.checkpoint()
    before = path.stat().st_size
    for k in range(60):  # well past SQLite's default threshold of 1,000 pages
        container.audit.record_many(AuditEvent(action="wal.event", details={"i": k * 500 + i})
                                    for i in range(500))
    assert (path.parent / f"{path.name}-wal").stat().st_size > 1000 * 4096
    assert path.stat().st_size == before  # still in the WAL: no writer checkpointed
    seq = Sequencer(container.audit, container.db)
    try:
        assert seq.run_once() == seq.batch
    finally:
        seq.stop()  # integrates the rest
    assert path.stat().st_size > before  # the sequencer's pass copied the WAL in
    assert container.audit.pending_count() == 0
    _assert_dense_and_valid(container)


def test_one_sequencer_elected(container: Container, settings) -> None:
    from idproof.db.engine import Database

    other_db = Database(settings.sqlalchemy_url())
    first = Sequencer(container.audit, container.db)
    second = Sequencer(container.audit, other_db)
    try:
        first.run_once()
        second.run_once()
        assert first.leader and not second.leader
        first.stop()  # resigns
        second.run_once()
        assert second.leader
    finally:
        second.stop()
        other_db.dispose()


def test_background_sequencer_integrates_within_a_second(container: Container) -> None:
    container.audit_sequencer.interval = 0.05
    container.audit_sequencer.start()
    try:
        assert not container.audit.inline
        ids = [container.audit.record(AuditEvent(action="bg.event", details={"i": i}))
               for i in range(20)]
        deadline = time.monotonic() + 1.0
        while container.audit.pending_count():
            assert time.monotonic() < deadline, "the sequencer did not integrate in time"
            time.sleep(0.02)
        assert container.audit_log.event(ids[-1], tenant_id=None)["status"] == "integrated"
    finally:
        container.audit_sequencer.stop()
    assert container.audit.inline
    _assert_dense_and_valid(container)


PROCESSES, THREADS, COROUTINES, EVENTS = 6, 3, 3, 120


@pytest.mark.slow
def test_concurrent_writers_no_gap_duplicate_or_reorder(container: Container) -> None:
    """Six OS processes, each with three request threads and three coroutines queueing events
    (group commits shared between them, several in flight on PostgreSQL), while a background
    sequencer integrates them: every event once, in a dense tree, each stream in its order."""
    container.audit_log.every_events = 200
    before = container.audit_log.size()
    url = container.settings.sqlalchemy_url()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=queue_from_process,
                         args=(url, w, EVENTS, start, THREADS, COROUTINES))
             for w in range(PROCESSES)]
    for p in procs:
        p.start()
    container.audit_sequencer.start()
    try:
        start.set()
        for p in procs:
            p.join(300)
        assert [p.exitcode for p in procs] == [0] * PROCESSES
    finally:
        container.audit_sequencer.stop()  # integrates what is left
    assert container.audit.pending_count() == 0
    events = [e for e in _events(container) if e[1].startswith("concurrent.")]
    streams = [f"w{w}s{k}" for w in range(PROCESSES) for k in range(THREADS + COROUTINES)]
    assert len(events) == len(streams) * EVENTS
    assert container.audit_log.size() == before + len(streams) * EVENTS
    for actor in streams:  # each stream's events in the order it wrote them, none twice
        mine = [e[3]["i"] for e in events if e[2] == actor]
        assert mine == list(range(EVENTS)), actor
    with container.db.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditPending)) == 0
    _assert_dense_and_valid(container)
    assert container.audit_log.latest_checkpoint() is not None


def test_a_writer_holds_the_other_processes_off_until_it_commits(container: Container) -> None:
    """SQLite: a process inside a write transaction holds the writers' lock file (the others
    wait for it in the kernel, not in SQLite's sleeping busy handler); its commit frees it."""
    if container.db.dialect != "sqlite":
        pytest.skip("the writers' lock file is SQLite's")
    import fcntl

    container.audit.inline = False
    lock_file = Path(f"{make_url(container.settings.sqlalchemy_url()).database}-writer.lock")
    proc = subprocess.Popen([sys.executable, "-m", "tests.audit_sequencer_support", "hold",
                             container.settings.sqlalchemy_url()], cwd=str(REPO),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "holding"
        with open(lock_file, "rb") as f:
            with pytest.raises(BlockingIOError):
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "committed"
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # free now
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    finally:
        proc.kill()
        proc.wait(10)
    container.audit.record(AuditEvent(action="after.hold"))
    assert container.audit.pending_count() == 2


def test_a_writer_killed_inside_its_transaction_blocks_nobody(container: Container) -> None:
    """kill -9 of a process holding the write lock (and, on SQLite, the writers' lock file):
    its uncommitted event is gone, and the next writer and the sequencer carry on."""
    container.audit.inline = False
    proc = subprocess.Popen([sys.executable, "-m", "tests.audit_sequencer_support", "hold",
                             container.settings.sqlalchemy_url()], cwd=str(REPO),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "holding"
    finally:
        _kill9(proc)
    ids = container.audit.record_many(AuditEvent(action="after.kill", details={"i": i})
                                      for i in range(3))
    assert container.audit.pending_count() == 3  # the killed process's event never was
    assert container.audit.integrate_all() == 3
    assert [container.audit_log.event(i, tenant_id=None)["status"] for i in ids] == [
        "integrated"] * 3
    _assert_dense_and_valid(container)

"""Several OS processes appending to one PostgreSQL log: no gap, no duplicate, a valid tree."""

from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import func, select

from idproof.audit.models import AuditEventRow, AuditLogKey
from idproof.bootstrap import Container
from idproof.datadir import derive, load_server_secret
from tests.audit_log_support import append_from_process, size

PROCESSES, EVENTS = 4, 50

# Concurrent appends from several processes are a PostgreSQL test.
pytestmark = [pytest.mark.postgres]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_concurrent_appends_from_several_processes(container: Container) -> None:
    before = size(container)
    url = container.settings.sqlalchemy_url()
    seal = derive(load_server_secret(container.settings), "audit-log-seal")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=append_from_process,
                         args=(url, seal, container.audit_log.origin, w, EVENTS, start))
             for w in range(PROCESSES)]
    for p in procs:
        p.start()
    start.set()  # all at once, so they really contend for the tree head
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * PROCESSES

    total = before + PROCESSES * EVENTS + 1  # + the log key's creation event
    with container.db.read() as s:
        count, low, high, distinct = s.execute(select(
            func.count(), func.min(AuditEventRow.idx), func.max(AuditEventRow.idx),
            func.count(func.distinct(AuditEventRow.idx)))).one()
        keys = s.scalar(select(func.count()).select_from(AuditLogKey))
        per_worker = dict(s.execute(
            select(AuditEventRow.actor_id, func.count()).where(
                AuditEventRow.action.like("concurrent.%")).group_by(AuditEventRow.actor_id)
        ).all())
    assert (count, low, high, distinct) == (total, 0, total - 1, total)  # dense, no duplicate
    assert size(container) == total
    assert keys == 1  # the processes did not each create a log key
    assert per_worker == {f"w{w}": EVENTS for w in range(PROCESSES)}
    report = container.audit_log.verify()
    assert report.ok, (report.finding, report.problems)
    assert report.checkpoints_checked >= PROCESSES * EVENTS // 25 // 2

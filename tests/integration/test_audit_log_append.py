"""Appending to the audit log: dense indexes, recomputable leaves, nodes, transactions, triggers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from idproof.audit.events import AuditEvent
from idproof.audit.leaf import event_leaf_hash, leaf_fields, parse_time
from idproof.audit.log import event_json
from idproof.audit.merkle import CompactRange, root_at, root_from_leaves
from idproof.audit.models import AuditEventRow, AuditNode
from idproof.audit.store import DbNodeReader, head_size
from idproof.bootstrap import Container
from tests.audit_log_support import LOG_TABLES, fill, size


def _rows(container: Container) -> list[AuditEventRow]:
    with container.db.read() as s:
        return list(s.scalars(select(AuditEventRow).order_by(AuditEventRow.idx)))


def test_appends_are_dense_and_store_every_complete_subtree(container: Container) -> None:
    container.audit.record(AuditEvent(action="one.at.a.time"))
    fill(container, 6)
    with container.db.session() as s:  # inside a caller's unit of work
        container.audit.record_in(s, AuditEvent(action="in.caller.tx", tenant_id="t1"))
        container.audit.record_in(s, AuditEvent(action="in.caller.tx", tenant_id="t1"))
    for _ in range(4):
        container.audit.record(AuditEvent(action="one.at.a.time"))

    rows = _rows(container)
    assert [r.idx for r in rows] == list(range(len(rows)))
    edge = CompactRange()
    expected = {}
    for r in rows:
        assert event_leaf_hash(leaf_fields(r)) == r.leaf_hash  # recomputed from the stored row
        expected.update({(n.level, n.index): n.hash for n in edge.append(r.leaf_hash)})
    with container.db.read() as s:
        assert head_size(s) == len(rows)
        stored = {(n.level, n.idx): n.hash for n in s.scalars(select(AuditNode))}
        assert root_at(len(rows), DbNodeReader(s)) == root_from_leaves(r.leaf_hash for r in rows)
    assert stored == expected  # exactly the complete subtrees, nothing more


def test_leaves_round_trip_exactly(container: Container) -> None:
    # Values that a careless encoding would change between write and read-back.
    details = {"text": "é — \u2028 \U0001f600 \"quoted\" \\", "f": 0.1, "tiny": 1e-7,
               "neg0": -0.0, "big": 1e16, "int": 2**53 + 1, "yes": True, "none": None,
               "list": [1, "a", None, 2.5, [3, {"k": "v"}]], "tuple_in_list": [(1, 2)]}
    when = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    container.audit.record(AuditEvent(
        action="pii.read", outcome="success", actor_type="client", actor_id="cli_x",
        tenant_id="ten_1", target_type="session", target_id="ses_1", ip="2001:db8::1",
        request_id="req_1", purpose="fraud review (ticket 42)", details=details,
        occurred_at=when))
    container.audit.record(AuditEvent(action="minimal"))

    for row in _rows(container):
        fields = leaf_fields(row)
        assert event_leaf_hash(fields) == row.leaf_hash
        # What an export line carries, parsed back, hashes to the same leaf.
        exported = json.loads(json.dumps(event_json(row), ensure_ascii=False))
        body = {k: v for k, v in exported.items() if k not in ("index", "leaf_hash")}
        assert event_leaf_hash(body) == row.leaf_hash
    first = next(r for r in _rows(container) if r.action == "pii.read")
    assert leaf_fields(first)["occurred_at"] == "2026-03-03T23:36:07.890123Z"
    assert parse_time("2026-03-03T23:36:07.890123Z") == when
    assert first.details["tuple_in_list"] == [[1, 2]]


@pytest.mark.parametrize("event, error", [
    (AuditEvent(action="x", details={"ratio": float("nan")}), ValueError),
    (AuditEvent(action="x", target_id="t" * 65), ValueError),
    (AuditEvent(action="x", target_id=42), TypeError),  # type: ignore[arg-type]
    (AuditEvent(action=""), TypeError),
])
def test_events_that_could_not_be_hashed_again_are_refused(container: Container,
                                                           event: AuditEvent,
                                                           error: type[Exception]) -> None:
    before = size(container)
    with pytest.raises(error):
        container.audit.record(event)
    assert size(container) == before


def test_only_committed_events_are_appended(container: Container) -> None:
    before = size(container)
    with pytest.raises(KeyError), container.db.session() as s:
        container.audit.record_in(s, AuditEvent(action="rolled.back"))
        raise KeyError
    with container.db.session() as s:
        container.audit.record_in(s, AuditEvent(action="kept.outer"))
        savepoint = s.begin_nested()
        container.audit.record_in(s, AuditEvent(action="dropped.inner"))
        savepoint.rollback()
        with s.begin_nested():
            container.audit.record_in(s, AuditEvent(action="kept.released"))
    actions = [r.action for r in _rows(container)][before:]
    assert actions == ["kept.outer", "kept.released"]
    assert size(container) == before + 2


def test_triggers_refuse_update_and_delete_on_every_log_table(container: Container) -> None:
    fill(container, 3)
    container.audit_log.checkpoint()  # also creates the log key
    engine = container.db.engine
    changes = {
        "audit_events": "outcome = 'failure'",
        "audit_nodes": "hash = hash",
        "audit_checkpoints": "note = 'forged'",
        "audit_log_keys": "name = 'forged'",
    }
    for table in LOG_TABLES:
        for statement in (f"UPDATE {table} SET {changes[table]}", f"DELETE FROM {table}"):
            with pytest.raises(DatabaseError, match="append-only"), engine.begin() as c:
                c.execute(text(statement))
        if engine.dialect.name == "postgresql":
            with pytest.raises(DatabaseError, match="append-only"), engine.begin() as c:
                c.execute(text(f"TRUNCATE {table}"))
    # The tree head is the one row that changes, and it may only grow.
    for statement in ("UPDATE audit_tree_head SET size = size - 1", "DELETE FROM audit_tree_head",
                      "UPDATE audit_tree_head SET id = 2"):
        with pytest.raises(DatabaseError), engine.begin() as c:
            c.execute(text(statement))
    with pytest.raises(DatabaseError), engine.begin() as c:  # a second head row
        c.execute(text("INSERT INTO audit_tree_head (id, size) VALUES (2, 0)"))
    with engine.connect() as c:  # growing is allowed (that is an append); rolled back here
        c.execute(text("UPDATE audit_tree_head SET size = size + 1"))
        c.rollback()
    assert container.audit_log.verify().ok

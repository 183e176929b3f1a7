"""The audit table refuses UPDATE and DELETE in the database itself, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from idproof.audit.events import AuditEvent


def test_audit_rows_cannot_change(container) -> None:
    container.audit.record(AuditEvent(action="test.event", details={"n": 1}))
    with pytest.raises(DatabaseError), container.db.engine.begin() as c:
        c.execute(text("UPDATE audit_events SET outcome = 'failure'"))
    with pytest.raises(DatabaseError), container.db.engine.begin() as c:
        c.execute(text("DELETE FROM audit_events"))
    rows = container.audit.list(action="test.event")
    assert len(rows) == 1 and rows[0].outcome == "success"


def test_audit_events_refuse_personal_payloads() -> None:
    with pytest.raises(TypeError):
        AuditEvent(action="x", details={"nested": {"name": "Jane"}})
    with pytest.raises(ValueError):
        AuditEvent(action="x", details={"blob": "a" * 500})

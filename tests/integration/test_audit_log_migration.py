"""Migration 0002 on a database that already holds 0001 audit events: they become a valid log."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import JSON, String, column, create_engine, insert, inspect, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from idproof.audit.log import AuditLog
from idproof.db.base import UTCDateTime
from idproof.db.engine import Database
from idproof.db.migrate import alembic_config, upgrade

PG_URL = os.environ.get("IDPROOF_TEST_DATABASE_URL")


def _pg(sql: str) -> None:
    assert PG_URL is not None
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(text(sql))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need IDPROOF_TEST_DATABASE_URL")
    name = f"idproof_mig_{uuid.uuid4().hex[:12]}"
    _pg(f'CREATE DATABASE "{name}"')
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_upgrade_backfills_existing_events_into_a_valid_log(empty_url: str) -> None:
    upgrade(empty_url, "0001")
    db = Database(empty_url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    events = table("audit_events", column("occurred_at", UTCDateTime()),
                   column("actor_type", String()), column("action", String()),
                   column("outcome", String()), column("details", JSON()))
    with db.engine.begin() as c:
        # Times out of id order, as the clocks of several processes produce them.
        c.execute(insert(events), [
            {"occurred_at": start + timedelta(seconds=(i * 7) % 5, microseconds=i),
             "actor_type": "system", "action": f"old.event.{i}", "outcome": "success",
             "details": {"n": i, "f": 0.5, "t": (1, 2)}} for i in range(11)])
    db.dispose()

    upgrade(empty_url, "head")
    db = Database(empty_url)
    try:
        with db.engine.connect() as c:
            rows = c.execute(text("SELECT id, idx, action FROM audit_events ORDER BY id")).all()
            assert [r.idx for r in rows] == list(range(11))
            assert [r.action for r in rows] == [f"old.event.{i}" for i in range(11)]
            assert c.execute(text("SELECT size FROM audit_tree_head")).scalar() == 11
        log = AuditLog(db, b"\x02" * 32, origin="migrated.test/audit")
        log.checkpoint()
        report = log.verify()
        assert report.ok and report.events == 11, (report.finding, report.problems)
        with pytest.raises(DatabaseError), db.engine.begin() as c:
            c.execute(text("UPDATE audit_events SET outcome = 'failure'"))
    finally:
        db.dispose()

    command.downgrade(alembic_config(empty_url), "0001")
    engine = create_engine(empty_url)
    try:
        assert "audit_nodes" not in inspect(engine).get_table_names()
        assert "idx" not in {c["name"] for c in inspect(engine).get_columns("audit_events")}
        with pytest.raises(DatabaseError), engine.begin() as c:  # 0001's triggers are back
            c.execute(text("DELETE FROM audit_events"))
    finally:
        engine.dispose()
    upgrade(empty_url, "head")

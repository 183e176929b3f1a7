"""Migrations 0023 (session_reasons with backfill, the console's rollups) and 0025 (the day
histograms of times to decision), set_decision keeping the reasons table exact, and the
dashboard figures equal with and without the rollups."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, delete, insert, inspect, select, text, true, update

from idproof.console.analytics import session_query, summary
from idproof.console.models import DecisionSecondsRollup, SessionRollup
from idproof.console.rollup import roll_up, session_erased
from idproof.core.events import SessionErased
from idproof.db.engine import Database
from idproof.db.migrate import alembic_config, upgrade
from idproof.schema import metadata
from idproof.verification.models import (
    SessionReason,
    SessionStep,
    VerificationSession,
)
from idproof.verification.reasons import set_decision

TABLES = ("session_reasons", "console_session_rollups", "verification_sessions",
          "console_decision_seconds", "session_steps")
NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
REASONS = ["duplicate_document", "document_unreadable", "face_mismatch", "document_expired"]
STATUSES = ["approved", "declined", "in_review", "abandoned", "expired", "in_progress",
            "not_started", "cancelled", "processing"]


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    d = Database(db_url)
    yield d
    d.dispose()


def test_models_match_migration(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [d for d in compare_metadata(ctx, metadata)
                    if any(t in str(d) for t in TABLES)]
            assert diff == []
    finally:
        engine.dispose()


def _row(i: int, status: str, created: datetime, reasons: list[str]) -> dict[str, object]:
    decided = status in {"approved", "declined", "in_review"}
    return {"id": f"ses_r{i:06d}", "tenant_id": "ten_a", "client_id": "cli_x",
            "workflow_id": "document_only", "workflow_version": 1, "reference": f"u{i}",
            "status": status, "meta": {}, "subject_key_id": f"sk{i}", "created_at": created,
            "updated_at": created, "expires_at": created + timedelta(days=7),
            "submitted_at": created + timedelta(minutes=2) if decided else None,
            "decided_at": created + timedelta(seconds=90 + i % 400) if decided else None,
            "decision": {"status": status, "reasons": reasons} if decided else None}


def test_migration_backfills_reasons(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0019")
    assert "rolled_up" not in {c["name"] for c in inspect(create_engine(db_url))
                               .get_columns("verification_sessions")}
    engine = create_engine(db_url)
    rows = [_row(1, "declined", NOW, ["face_mismatch", "document_expired"]),
            _row(2, "approved", NOW, []), _row(3, "in_progress", NOW, [])]
    try:
        with engine.begin() as conn:
            for r in rows:
                conn.execute(text(
                    "INSERT INTO verification_sessions (id, tenant_id, client_id, workflow_id,"
                    " workflow_version, reference, status, metadata, subject_key_id,"
                    " created_at, updated_at, expires_at, decision) VALUES (:id, :tenant_id,"
                    " :client_id, :workflow_id, 1, :reference, :status, '{}', :sk, :created,"
                    " :created, :created, :decision)"),
                    {**r, "sk": r["subject_key_id"], "created": r["created_at"],
                     "decision": json.dumps(r["decision"]) if r["decision"] else None})
        upgrade(db_url)
        with engine.connect() as conn:
            got = sorted(conn.execute(text(
                "SELECT session_id, reason, tenant_id FROM session_reasons")).all())
            flags = set(conn.execute(text("SELECT rolled_up FROM verification_sessions"))
                        .scalars())
    finally:
        engine.dispose()
    assert [tuple(r) for r in got] == [("ses_r000001", "document_expired", "ten_a"),
                   ("ses_r000001", "face_mismatch", "ten_a")]
    assert flags == {False}


def test_set_decision_keeps_reasons_exact(db: Database) -> None:
    with db.session() as s:
        s.execute(insert(VerificationSession), [_row(1, "in_review", NOW, [])])
        row = s.get(VerificationSession, "ses_r000001")
        assert row is not None
        set_decision(s, row, {"reasons": ["duplicate_document"]})
        # twice in one transaction, as the signals add theirs after the decision
        set_decision(s, row, {"reasons": ["duplicate_document", "face_mismatch",
                                          "face_mismatch"]})
    with db.read() as s:
        assert sorted(s.scalars(select(SessionReason.reason))) == [
            "duplicate_document", "face_mismatch"]
        ids = [r.id for r in s.scalars(session_query(["ten_a"], reason="face_mismatch"))]
        assert ids == ["ses_r000001"]
    with db.session() as s:
        row = s.get(VerificationSession, "ses_r000001")
        assert row is not None
        set_decision(s, row, None)  # a resubmit clears the decision
    with db.read() as s:
        assert list(s.scalars(select(SessionReason))) == []
        assert list(s.scalars(session_query(["ten_a"], reason="face_mismatch"))) == []


def _seed(db: Database, n: int) -> None:
    rng = random.Random(3)
    sessions, reasons, steps = [], [], []
    for i in range(n):
        created = NOW - timedelta(seconds=rng.randrange(12 * 86400))
        status = rng.choice(STATUSES)
        rs = rng.sample(REASONS, rng.randint(0, 2))
        row = _row(i, status, created, rs)
        sessions.append(row)
        if row["decided_at"] is not None:
            reasons += [{"session_id": row["id"], "reason": r, "tenant_id": "ten_a",
                         "created_at": created} for r in rs]
        steps.append({"session_id": row["id"], "step": "document",
                      "state": rng.choice(["passed", "failed", "pending"]), "reasons": [],
                      "facts": {}, "attempts": 1, "updated_at": created})
    with db.session() as s:
        s.execute(insert(VerificationSession), sessions)
        s.execute(insert(SessionReason), reasons)
        s.execute(insert(SessionStep), steps)


def test_dashboard_figures_are_the_same_with_rollups(db: Database) -> None:
    _seed(db, 600)
    periods = [(NOW - timedelta(days=30), NOW + timedelta(seconds=1)),  # the default
               (NOW - timedelta(days=5, hours=7), NOW - timedelta(days=1, hours=3)),
               (NOW - timedelta(hours=5), NOW),  # inside one day
               (datetime(2026, 11, 12, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC))]
    with db.read() as s:
        before = [summary(s, ["ten_a"], a, b, NOW) for a, b in periods]
    assert before[0]["sessions"]["started"] == 600
    assert roll_up(db, batch=97) > 97  # several batches
    with db.read() as s:
        rolled = s.scalar(select(VerificationSession.id).where(
            VerificationSession.rolled_up.is_(False),
            VerificationSession.status.in_(["approved", "declined", "expired", "abandoned",
                                            "cancelled"])))
        assert rolled is None  # every final session is in the rollups
        assert s.scalar(select(SessionRollup.n).limit(1)) is not None
        after = [summary(s, ["ten_a"], a, b, NOW) for a, b in periods]
    assert after == before
    assert roll_up(db) == 0  # nothing is counted twice
    # A session in review decided after the sweep: counted live until the next sweep.
    with db.session() as s:
        row = s.scalars(select(VerificationSession).where(
            VerificationSession.status == "in_review").limit(1)).one()
        row.status = "declined"
        set_decision(s, row, {"status": "declined", "reasons": ["face_mismatch"]})
    with db.read() as s:
        live = summary(s, ["ten_a"], *periods[0], NOW)
    assert live["sessions"]["declined"] == before[0]["sessions"]["declined"] + 1
    assert roll_up(db) == 1
    with db.read() as s:
        assert summary(s, ["ten_a"], *periods[0], NOW) == live
    # An erased session leaves the rollups in its erasure's transaction (bootstrap's table
    # subscribes session_erased to SessionErased): the figures match a live recount.
    with db.session() as s:
        gone = s.scalars(select(VerificationSession).where(
            VerificationSession.rolled_up == true(),
            VerificationSession.status == "declined")).first()
        assert gone is not None
        session_erased(s, SessionErased(tenant_id="ten_a", session_id=gone.id))
        s.delete(gone)
    with db.read() as s:
        after_erasure = [summary(s, ["ten_a"], a, b, NOW) for a, b in periods]
    with db.session() as s:  # the same sessions counted live only
        s.execute(update(VerificationSession).values(rolled_up=False))
        s.execute(delete(SessionRollup))
        s.execute(delete(DecisionSecondsRollup))
    with db.read() as s:
        assert [summary(s, ["ten_a"], a, b, NOW) for a, b in periods] == after_erasure
    assert after_erasure[0]["sessions"]["declined"] == live["sessions"]["declined"] - 1


def test_migration_0025_moves_seconds_into_day_histograms(db: Database, db_url: str) -> None:
    _seed(db, 300)
    assert roll_up(db) > 0
    with db.read() as s:
        hist = {(h.tenant_id, h.day): json.loads(h.hist)
                for h in s.scalars(select(DecisionSecondsRollup))}
        figures = summary(s, ["ten_a"], NOW - timedelta(days=30), NOW, NOW)
    assert hist and all(n > 0 for h in hist.values() for n in h.values())
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0023")  # back to one rollup row a value
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT tenant_id, day, key, n FROM "
                                     "console_session_rollups WHERE kind = 'seconds'")).all()
    finally:
        engine.dispose()
    back: dict[tuple[str, str], dict[str, int]] = {}
    for t, d, key, n in rows:
        back.setdefault((t, d), {})[key] = n
    assert back == hist
    upgrade(db_url)
    with db.read() as s:
        assert {(h.tenant_id, h.day): json.loads(h.hist)
                for h in s.scalars(select(DecisionSecondsRollup))} == hist
        assert s.scalar(select(SessionRollup.n).where(SessionRollup.kind == "seconds")) is None
        assert summary(s, ["ten_a"], NOW - timedelta(days=30), NOW, NOW) == figures

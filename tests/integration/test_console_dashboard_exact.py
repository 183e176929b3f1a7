"""The dashboard's figures (rollups for whole days + histograms + the live part, one statement)
equal a plain recount of the sessions, steps and reasons, computed here in Python."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from idproof.console.analytics import summary
from idproof.console.rollup import roll_up
from idproof.db.engine import Database
from idproof.verification.models import (
    ReviewSettings,
    SessionReason,
    SessionStep,
    VerificationSession,
)
from idproof.verification.reasons import set_decision

NOW = datetime(2026, 11, 20, 15, 30, 17, 250000, tzinfo=UTC)
TENANTS = ["ten_a", "ten_b"]  # ten_b: a 2-hour review SLA; ten_a the default 24 hours
STATUSES = ["approved", "declined", "in_review", "abandoned", "expired", "in_progress",
            "not_started", "cancelled", "processing"]
REASONS = ["duplicate_document", "document_unreadable", "face_mismatch", "document_expired",
           "presentation_attack"]
STEPS = ["document", "selfie", "liveness"]
STATES = ["passed", "failed", "pending", "retry", "processing"]


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    d = Database(db_url)
    yield d
    d.dispose()


def _seed(db: Database, n: int) -> None:
    """n sessions over 14 days in two tenants, each with 1 to 3 steps, decision times with
    fractions of a second and many distinct values, reasons on decided ones."""
    rng = random.Random(11)
    sessions, reasons, steps = [], [], []
    for i in range(n):
        created = NOW - timedelta(seconds=rng.randrange(14 * 86400),
                                  microseconds=rng.randrange(1_000_000))
        status = rng.choice(STATUSES)
        decided = status in {"approved", "declined", "in_review"}
        sid = f"ses_x{i:06d}"
        sessions.append({
            "id": sid, "tenant_id": rng.choice(TENANTS), "client_id": "cli_x",
            "workflow_id": "kyc_standard", "workflow_version": 1, "reference": f"u{i}",
            "status": status, "meta": {}, "subject_key_id": f"sk{i}", "created_at": created,
            "updated_at": created, "expires_at": created + timedelta(days=7),
            "submitted_at": created + timedelta(seconds=rng.randint(30, 900))
            if decided or status == "processing" else None,
            "decided_at": created + timedelta(seconds=rng.randint(5, 30 * 3600),
                                              microseconds=rng.randrange(1_000_000))
            if decided else None,
            "decision": {"status": status} if decided else None})
        if decided:
            reasons += [{"session_id": sid, "reason": r, "tenant_id": sessions[-1]["tenant_id"],
                         "created_at": created} for r in rng.sample(REASONS, rng.randint(0, 3))]
        steps += [{"session_id": sid, "step": st, "state": rng.choice(STATES), "reasons": [],
                   "facts": {}, "attempts": 1, "updated_at": created}
                  for st in STEPS[:rng.randint(1, 3)]]
    with db.session() as s:
        s.execute(insert(VerificationSession), sessions)
        s.execute(insert(SessionReason), reasons)
        s.execute(insert(SessionStep), steps)
        s.add(ReviewSettings(tenant_id="ten_b", sla_hours=2, four_eyes=False, updated_at=NOW))


def _recount(db: Database, tenants: list[str], start: datetime, end: datetime
             ) -> dict[str, Any]:
    """The figures from every row, without the rollups or the database's arithmetic."""
    with db.read() as s:
        rows = [r for r in s.scalars(select(VerificationSession)) if r.tenant_id in tenants]
        steps = list(s.scalars(select(SessionStep)))
        reasons = list(s.scalars(select(SessionReason)))
    inside = {r.id: r for r in rows if start <= r.created_at < end}
    status = Counter(r.status for r in inside.values())
    funnel: dict[str, Counter[str]] = {}
    for st in steps:
        if st.session_id in inside:
            funnel.setdefault(st.step, Counter())[st.state] += 1
    decided = {i for i, r in inside.items() if r.decided_at is not None}
    seconds = sorted(int(r.decided_at.timestamp()) - int(r.created_at.timestamp())
                     for r in inside.values() if r.decided_at is not None)
    sla = {"ten_b": 2}
    queue = [r for r in rows if r.status == "in_review"]
    return {
        "sessions": {"started": len(inside),
                     "completed": sum(r.submitted_at is not None for r in inside.values()),
                     **{k: status[k] for k in ("approved", "declined", "in_review",
                                               "abandoned", "expired", "cancelled")}},
        "funnel": [{"step": k, "passed": v["passed"], "failed": v["failed"],
                    "pending": sum(v.values()) - v["passed"] - v["failed"]}
                   for k, v in sorted(funnel.items())],
        "reasons": dict(Counter(x.reason for x in reasons if x.session_id in decided)),
        "time_to_decision_seconds": {
            "median": float(statistics.median(seconds)) if seconds else None,
            "p95": float(seconds[round(0.95 * (len(seconds) - 1))]) if seconds else None},
        "review": {"backlog": len(queue), "sla_breaches": sum(
            r.decided_at + timedelta(hours=sla.get(r.tenant_id, 24)) < NOW for r in queue)},
    }


def _figures(db: Database, tenants: list[str], start: datetime, end: datetime
             ) -> dict[str, Any]:
    with db.read() as s:
        f = summary(s, tenants, start, end, NOW)
    return {"sessions": f["sessions"], "funnel": f["funnel"],
            "reasons": {x["reason"]: x["count"] for x in f["top_reasons"]},
            "time_to_decision_seconds": f["time_to_decision_seconds"], "review": f["review"]}


PERIODS = [
    (NOW - timedelta(days=30), NOW + timedelta(seconds=1)),  # the default: all of it
    (NOW - timedelta(days=9, hours=5, minutes=3), NOW - timedelta(days=2, hours=1)),
    (NOW - timedelta(hours=7), NOW),  # inside today
    (datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 14, tzinfo=UTC)),  # whole days
    (datetime(2026, 11, 12, 23, 59, 59, 999999, tzinfo=UTC),
     datetime(2026, 11, 13, 0, 0, 0, 1, tzinfo=UTC)),  # around one midnight
    # most of one past day: its rollups minus the rolled-up sessions of both ends
    (datetime(2026, 11, 11, 0, 0, 3, tzinfo=UTC), datetime(2026, 11, 11, 23, 59, 58, tzinfo=UTC)),
    (NOW - timedelta(days=3), NOW + timedelta(days=2)),  # ends in the future
]


@pytest.mark.parametrize("tenants", [["ten_a"], ["ten_b"], TENANTS])
def test_rollups_and_live_part_equal_a_plain_recount(db: Database,
                                                     tenants: list[str]) -> None:
    _seed(db, 900)
    live_only = [_figures(db, tenants, a, b) for a, b in PERIODS]
    assert live_only == [_recount(db, tenants, a, b) for a, b in PERIODS]
    assert live_only[0]["sessions"]["started"] > 300
    assert roll_up(db, batch=150) > 300
    # sessions in review decided after the sweep: final, not yet rolled up, read live
    with db.session() as s:
        for row in s.scalars(select(VerificationSession).where(
                VerificationSession.status == "in_review").limit(40)):
            row.status = "declined"
            row.decided_at = row.decided_at + timedelta(hours=3, seconds=7)
            set_decision(s, row, {"status": "declined", "reasons": ["face_mismatch"]})
    mixed = [_figures(db, tenants, a, b) for a, b in PERIODS]
    assert mixed == [_recount(db, tenants, a, b) for a, b in PERIODS]
    assert mixed != live_only  # the decisions show
    assert roll_up(db, batch=7) >= 7  # several batches over days already in the rollups
    assert [_figures(db, tenants, a, b) for a, b in PERIODS] == mixed

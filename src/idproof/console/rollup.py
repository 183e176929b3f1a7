"""Daily rollups of final sessions for the dashboard: the sweep that fills them, and reading a
period back as exact counters (rolled-up days from the rollups, the rest from the sessions)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from idproof.console.models import SessionRollup
from idproof.core.events import SessionErased
from idproof.db.engine import Database
from idproof.verification.lifecycle import FINAL
from idproof.verification.models import SessionReason, SessionStep, VerificationSession

Key = tuple[str, str]  # (kind, key): ("status", "approved"), ("reason", "face_mismatch"), …
CHUNK = 500  # ids per IN (…) list


@dataclass
class Counts:
    """Counters of one period, summed from the rollups and the live sessions."""

    by: Counter[Key] = field(default_factory=Counter)

    def add(self, items: Iterable[tuple[Key, int]]) -> None:
        for k, n in items:
            self.by[k] += n

    def of(self, kind: str) -> dict[str, int]:
        return {k: n for (kd, k), n in self.by.items() if kd == kind and n}


def day_of(at: datetime) -> str:
    return at.astimezone(UTC).date().isoformat()


def seconds_to_decide(dialect: str, decided: Any = None, created: Any = None) -> Any:
    """Whole seconds from creation to decision, computed by the database (the unit the
    rollups count in): the difference of the two times truncated to the second, the same
    expression for the sweep and the live count, so both give the same figure."""
    V = VerificationSession
    if dialect == "postgresql":
        def whole(col: Any) -> Any:
            return cast(func.floor(func.extract("epoch", col)), BigInteger)
    else:
        def whole(col: Any) -> Any:
            return cast(func.strftime("%s", col), BigInteger)
    return (whole(V.decided_at if decided is None else decided)
            - whole(V.created_at if created is None else created))


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _facts(s: Session, rows: Sequence[Any]) -> Counter[tuple[str, str, str, str]]:
    """(tenant, day, kind, key) counters of these final sessions."""
    out: Counter[tuple[str, str, str, str]] = Counter()
    where = {r.id: (r.tenant_id, day_of(r.created_at)) for r in rows}
    for r in rows:
        t, d = where[r.id]
        out[(t, d, "status", r.status)] += 1
        if r.submitted_at is not None:
            out[(t, d, "completed", "")] += 1
        if r.decided_at is not None:
            out[(t, d, "seconds", str(r.seconds))] += 1
    decided = [r.id for r in rows if r.decided_at is not None]
    for part in _chunks(list(where)):
        for sid, step, state in s.execute(select(
                SessionStep.session_id, SessionStep.step, SessionStep.state)
                .where(SessionStep.session_id.in_(part))):
            out[(*where[sid], "step", f"{step}:{state}")] += 1
    for part in _chunks(decided):
        for sid, reason in s.execute(select(SessionReason.session_id, SessionReason.reason)
                                     .where(SessionReason.session_id.in_(part))):
            out[(*where[sid], "reason", reason)] += 1
    return out


def _add(s: Session, facts: Counter[tuple[str, str, str, str]]) -> None:
    """Add counters to the rollup rows (updating the existing, inserting the new)."""
    days = sorted({(t, d) for t, d, _, _ in facts})
    have: set[tuple[str, str, str, str]] = set()
    for i in range(0, len(days), 200):
        have.update((t, d, k, key) for t, d, k, key in s.execute(select(
            SessionRollup.tenant_id, SessionRollup.day, SessionRollup.kind, SessionRollup.key)
            .where(tuple_(SessionRollup.tenant_id, SessionRollup.day).in_(days[i:i + 200]))))
    for (t, d, kind, key), n in facts.items():
        if (t, d, kind, key) in have:
            s.execute(update(SessionRollup).where(
                SessionRollup.tenant_id == t, SessionRollup.day == d,
                SessionRollup.kind == kind, SessionRollup.key == key)
                .values(n=SessionRollup.n + n))
        else:
            s.add(SessionRollup(tenant_id=t, day=d, kind=kind, key=key, n=n))


def _rows(dialect: str) -> Any:
    V = VerificationSession
    return select(V.id, V.tenant_id, V.status, V.created_at, V.submitted_at, V.decided_at,
                  V.rolled_up, seconds_to_decide(dialect).label("seconds"))


def session_erased(s: Session, event: SessionErased) -> None:
    """Subscribed to `session.erased` (in its transaction, before the row goes): an erased
    session leaves the rollups too, so they keep matching the sessions table."""
    row = s.execute(_rows(s.get_bind().dialect.name)
                    .where(VerificationSession.id == event.session_id)).first()
    if row is None or not row.rolled_up:
        return
    for (t, d, kind, key), n in _facts(s, [row]).items():
        s.execute(update(SessionRollup).where(
            SessionRollup.tenant_id == t, SessionRollup.day == d, SessionRollup.kind == kind,
            SessionRollup.key == key).values(n=SessionRollup.n - n))
    s.execute(delete(SessionRollup).where(SessionRollup.tenant_id == row.tenant_id,
                                          SessionRollup.day == day_of(row.created_at),
                                          SessionRollup.n <= 0))


def roll_up(db: Database, batch: int = 5000) -> int:
    """Count final sessions not yet counted into the rollups; returns how many. Each batch
    marks its sessions and adds their counters in one transaction: a session is either in
    the rollups or read live, never both (a concurrent sweep's claim makes this one stop)."""
    total = 0
    final = sorted(st.value for st in FINAL)
    while True:
        with db.session() as s:
            rows = s.execute(_rows(db.dialect).where(VerificationSession.rolled_up == false(),
                       VerificationSession.status.in_(final)).limit(batch)).all()
            if not rows:
                return total
            claimed = 0
            for part in _chunks([r.id for r in rows]):
                claimed += s.execute(update(VerificationSession).where(
                    VerificationSession.id.in_(part),
                    VerificationSession.rolled_up == false(),
                    VerificationSession.status.in_(final))
                    .values(rolled_up=True)
                    .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
            if claimed != len(rows):  # another sweep is at work: leave it to that one
                s.rollback()
                return total
            _add(s, _facts(s, rows))
        total += len(rows)
        if len(rows) < batch:
            return total


def _full_days(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The whole UTC days inside [start, end), as [first midnight, last midnight)."""
    a = start.astimezone(UTC)
    first = a.replace(hour=0, minute=0, second=0, microsecond=0)
    if first < a:
        first += timedelta(days=1)
    b = end.astimezone(UTC)
    last = b.replace(hour=0, minute=0, second=0, microsecond=0)
    return (first, last) if first < last else None


def _live(s: Session, parts: Sequence[Any]) -> Counts:
    """Counters of the sessions matching any of `parts` (disjoint index ranges, read as one
    UNION ALL), counted by the database in three grouped queries."""
    V = VerificationSession
    live = union_all(*[select(V.id, V.status, V.submitted_at, V.created_at, V.decided_at)
                       .where(p) for p in parts]).subquery()
    c = Counts()
    secs = seconds_to_decide(s.get_bind().dialect.name, live.c.decided_at, live.c.created_at)
    submitted = live.c.submitted_at.is_not(None)
    decided = live.c.decided_at.is_not(None)
    for status, was_submitted, seconds, n in s.execute(
            select(live.c.status, submitted, case((decided, secs)), func.count())
            .group_by(live.c.status, submitted, case((decided, secs)))):
        c.add([(("status", status), n)])
        if was_submitted:
            c.add([(("completed", ""), n)])
        if seconds is not None:
            c.add([(("seconds", str(seconds)), n)])
    c.add((("step", f"{step}:{state}"), n) for step, state, n in s.execute(
        select(SessionStep.step, SessionStep.state, func.count())
        .join(live, live.c.id == SessionStep.session_id)
        .group_by(SessionStep.step, SessionStep.state)))
    # By primary key for the decided ones: joined to the UNION ALL, PostgreSQL hash-joins
    # the whole reasons table (50 ms with 100,000 sessions) for a few thousand sessions.
    ids = list(s.scalars(select(live.c.id).where(decided)))
    for i in range(0, len(ids), 5000):
        c.add((("reason", r), n) for r, n in s.execute(
            select(SessionReason.reason, func.count())
            .where(SessionReason.session_id.in_(ids[i:i + 5000]))
            .group_by(SessionReason.reason)))
    return c


def period_counts(s: Session, tenant_ids: Sequence[str], start: datetime,
                  end: datetime) -> Counts:
    """Exact counters of the sessions created in [start, end): whole days' rolled-up
    sessions from the rollups; their other sessions and the partial days' from the table."""
    V = VerificationSession
    tenants = V.tenant_id.in_(list(tenant_ids))
    days = _full_days(start, end)
    if days is None:
        return _live(s, [and_(tenants, V.created_at >= start, V.created_at < end)])
    first, last = days
    # Three index ranges (an OR of them would read the whole period's rows).
    c = _live(s, [and_(tenants, V.created_at >= start, V.created_at < first),
                  and_(tenants, V.created_at >= last, V.created_at < end),
                  and_(tenants, V.rolled_up == false(), V.created_at >= first,
                       V.created_at < last)])
    c.add((((kind, key), int(n)) for kind, key, n in s.execute(
        select(SessionRollup.kind, SessionRollup.key, func.sum(SessionRollup.n))
        .where(SessionRollup.tenant_id.in_(list(tenant_ids)),
               SessionRollup.day >= day_of(first), SessionRollup.day < day_of(last))
        .group_by(SessionRollup.kind, SessionRollup.key))))
    return c


def quantile(hist: dict[int, int], q: float) -> float | None:
    """The q-quantile of a histogram, as `ordered[round(q * (n - 1))]` of its values."""
    return _at(hist, round(q * (sum(hist.values()) - 1))) if hist else None


def median_of(hist: dict[int, int]) -> float | None:
    n = sum(hist.values())
    if not n:
        return None
    if n % 2:
        return _at(hist, n // 2)
    return (_at(hist, n // 2 - 1) + _at(hist, n // 2)) / 2


def _at(hist: dict[int, int], index: int) -> float:
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if index < seen:
            return float(value)
    raise IndexError(index)  # pragma: no cover - index < total by construction

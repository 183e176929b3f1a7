"""Daily rollups of final sessions for the dashboard: the sweep that fills them, and reading a
period back as exact counters (rolled-up days from the rollups, the rest from the sessions)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    case,
    cast,
    delete,
    false,
    func,
    literal_column,
    select,
    true,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from idproof.console.models import DecisionSecondsRollup, SessionRollup
from idproof.core.events import SessionErased
from idproof.db.engine import Database
from idproof.verification.lifecycle import FINAL
from idproof.verification.models import SessionReason, SessionStep, VerificationSession

HIST = "seconds_hist"  # a row of a day's histogram in period_counts' one statement
Key = tuple[str, str]  # (kind, key): ("status", "approved"), ("reason", "face_mismatch"), …
CHUNK = 500  # ids per IN (…) list


@dataclass
class Counts:
    """Counters of one period, summed from the rollups and the live sessions, by kind."""

    by: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, items: Iterable[tuple[Key, int]]) -> None:
        for (kind, key), n in items:
            found = self.by.get(kind)
            if found is None:
                found = self.by[kind] = Counter()
            found[key] += n

    def of(self, kind: str) -> dict[str, int]:
        return {k: n for k, n in self.by.get(kind, Counter()).items() if n}


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
    """Add counters to the rollup rows (updating the existing, inserting the new); times to
    decision to the day's histogram."""
    seconds: dict[tuple[str, str], Counter[str]] = {}
    rest = Counter({k: n for k, n in facts.items() if k[2] != "seconds"})
    for (t, d, kind, key), n in facts.items():
        if kind == "seconds":
            seconds.setdefault((t, d), Counter())[key] += n
    days = sorted({(t, d) for t, d, _, _ in rest})
    have: set[tuple[str, str, str, str]] = set()
    for i in range(0, len(days), 200):
        have.update((t, d, k, key) for t, d, k, key in s.execute(select(
            SessionRollup.tenant_id, SessionRollup.day, SessionRollup.kind, SessionRollup.key)
            .where(tuple_(SessionRollup.tenant_id, SessionRollup.day).in_(days[i:i + 200]))))
    for (t, d, kind, key), n in rest.items():
        if (t, d, kind, key) in have:
            s.execute(update(SessionRollup).where(
                SessionRollup.tenant_id == t, SessionRollup.day == d,
                SessionRollup.kind == kind, SessionRollup.key == key)
                .values(n=SessionRollup.n + n))
        else:
            s.add(SessionRollup(tenant_id=t, day=d, kind=kind, key=key, n=n))
    _add_seconds(s, seconds)


def _add_seconds(s: Session, by_day: dict[tuple[str, str], Counter[str]]) -> None:
    """Add (or, negative, take out) times to decision to each day's histogram: read under a
    row lock on PostgreSQL (SQLite has one writer), rewritten, deleted once empty."""
    H = DecisionSecondsRollup
    for (t, d), add in sorted(by_day.items()):
        row = s.scalars(select(H).where(H.tenant_id == t, H.day == d).with_for_update()).first()
        hist = Counter({k: int(n) for k, n in json.loads(row.hist).items()}) if row else Counter()
        hist.update(add)
        kept = {k: n for k, n in hist.items() if n > 0}
        if row is None:
            if kept:
                s.add(H(tenant_id=t, day=d, hist=json.dumps(kept, sort_keys=True)))
        elif kept:
            row.hist = json.dumps(kept, sort_keys=True)
        else:
            s.delete(row)


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
    seconds: dict[tuple[str, str], Counter[str]] = {}
    for (t, d, kind, key), n in _facts(s, [row]).items():
        if kind == "seconds":
            seconds.setdefault((t, d), Counter())[key] -= n
            continue
        s.execute(update(SessionRollup).where(
            SessionRollup.tenant_id == t, SessionRollup.day == d, SessionRollup.kind == kind,
            SessionRollup.key == key).values(n=SessionRollup.n - n))
    _add_seconds(s, seconds)
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


DAY = timedelta(days=1)
Span = tuple[bool, int, datetime, datetime]  # (rolled_up, sign, from, to): a range read live


def _midnight(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _before_now(a: datetime, b: datetime, now: datetime) -> float:
    """How long [a, b) is before `now` (no session is created later): its likely rows."""
    return max(0.0, (min(b, now) - a).total_seconds())


def _plan(start: datetime, end: datetime, now: datetime
          ) -> tuple[list[Span], tuple[datetime, datetime] | None]:
    """How to count [start, end) exactly: the ranges of sessions to count live (signed), and
    the days [lo, hi) to add from the rollups. Whole days: their rollups plus their sessions
    not rolled up. A partial day [a, b) of day d: its sessions not rolled up, plus either its
    rolled-up sessions counted live, or d's rollups minus the rolled-up sessions of
    [d, a) and [b, d + 1 day), whichever reads fewer rows (today's part: the rollups, since
    nothing is created after now)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first, last = _midnight(start), _midnight(end)
    if first < start:
        first += DAY
    spans: list[Span] = []
    days: list[datetime] = []
    if first > last:  # inside one day
        partials = [(last, start, end)]
    else:
        partials = ([(first - DAY, start, first)] if start < first else []) + (
            [(last, last, end)] if last < end else [])
        if first < last:
            spans.append((False, 1, first, last))
            days += [first, last - DAY]
    for d, a, b in partials:
        spans.append((False, 1, a, b))
        if _before_now(a, b, now) <= _before_now(d, a, now) + _before_now(b, d + DAY, now):
            spans.append((True, 1, a, b))
        else:
            spans += [(True, -1, x, y) for x, y in ((d, a), (b, d + DAY)) if x < y]
            days.append(d)
    # the days read are contiguous: the whole days and the partial days next to them
    return spans, ((min(days), max(days) + DAY) if days else None)


def constant(name: str) -> Any:
    """A kind as an SQL constant (a typed literal, not a parameter: UNION ALL on PostgreSQL
    resolves an untyped parameter's type from the first branch only)."""
    return literal_column(f"'{name}'", String)


def _live(dialect: str, tenant_ids: Sequence[str], spans: Sequence[Span]) -> list[Any]:
    """(kind, key, n) counters of the sessions in `spans` (disjoint ranges of the covering
    index (tenant, rolled_up, created_at, …): an OR of them would read the whole period),
    each counted with its span's sign, read once into one materialized CTE that each counter
    (status, submitted, seconds to decision, steps, reasons) sums."""
    V = VerificationSession
    seconds = case((V.decided_at.is_not(None), seconds_to_decide(dialect)))
    live = union_all(*[
        select(V.id, V.status, V.submitted_at.is_not(None).label("sub"), seconds.label("secs"),
               literal_column(str(sign)).label("sign"))
        .where(V.tenant_id.in_(list(tenant_ids)), V.rolled_up == (true() if up else false()),
               V.created_at >= a, V.created_at < b)
        for up, sign, a, b in spans]).cte("live").prefix_with("MATERIALIZED")
    n = func.sum(live.c.sign)
    return [
        select(constant("status"), live.c.status, n).group_by(live.c.status),
        select(constant("completed"), constant(""), n).where(live.c.sub == true()),
        select(constant("seconds"), cast(live.c.secs, String), n)
        .where(live.c.secs.is_not(None)).group_by(live.c.secs),
        select(constant("step"), SessionStep.step + ":" + SessionStep.state, n)
        .join(live, live.c.id == SessionStep.session_id)
        .group_by(SessionStep.step, SessionStep.state),
        select(constant("reason"), SessionReason.reason, n)
        .join(live, live.c.id == SessionReason.session_id)
        .where(live.c.secs.is_not(None)).group_by(SessionReason.reason),
    ]


def period_counts(s: Session, tenant_ids: Sequence[str], start: datetime, end: datetime,
                  now: datetime, also: Sequence[Any] = ()) -> Counts:
    """Exact counters of the sessions created in [start, end) (`_plan`: rollups for what they
    hold, the rest live), with the (kind, key, n) counters `also` asks for, in one statement."""
    spans, days = _plan(start, end, now)
    counters = list(also)
    if days is not None:
        lo, hi = day_of(days[0]), day_of(days[1])
        R, H = SessionRollup, DecisionSecondsRollup
        counters.append(select(R.kind, R.key, func.sum(R.n))
                        .where(R.tenant_id.in_(list(tenant_ids)), R.day >= lo, R.day < hi)
                        .group_by(R.kind, R.key))
        # each day's histogram as one row: (HIST, its JSON, 0)
        counters.append(select(constant(HIST), cast(H.hist, String), literal_column("0"))
                        .where(H.tenant_id.in_(list(tenant_ids)), H.day >= lo, H.day < hi))
    c = Counts()
    for kind, key, n in s.execute(union_all(
            *_live(s.get_bind().dialect.name, tenant_ids, spans), *counters)):
        if kind == HIST:
            c.by.setdefault("seconds", Counter()).update(json.loads(key))
        else:
            c.add([((kind, key), int(n or 0))])  # a SUM over no rows is NULL
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

"""Aggregate figures of sessions: volumes, funnel, reasons, times to decision, review backlog."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, false, func, or_, select, union
from sqlalchemy.orm import Session

from idproof.console.review import reason_filter
from idproof.console.rollup import constant, median_of, period_counts, quantile
from idproof.core.cursors import decode_cursor, encode_cursor
from idproof.core.errors import ValidationFailed
from idproof.verification.lifecycle import Status
from idproof.verification.models import ReviewSettings, VerificationSession

# The columns a session export may carry: ids, codes and times, never personal data.
CSV_COLUMNS = ("id", "tenant_id", "status", "workflow", "workflow_version", "reference",
               "reasons", "created_at", "submitted_at", "decided_at")


def summary(s: Session, tenant_ids: Sequence[str], start: datetime, end: datetime,
            now: datetime) -> dict[str, Any]:
    """The figures for sessions created in [start, end) of the given tenants: counters from
    the daily rollups for whole days, the rest counted live (`rollup.period_counts`)."""
    if end <= start:
        raise ValidationFailed("`from` must be before `to`", code="invalid_period")
    counts = period_counts(s, tenant_ids, start, end, now,
                           _review_backlog(s, tenant_ids, now))
    by_status = counts.of("status")
    funnel: dict[str, dict[str, int]] = {}
    for key, n in counts.of("step").items():
        step, _, state = key.partition(":")
        funnel.setdefault(step, {})[state] = n
    reasons = Counter(counts.of("reason"))
    seconds = {int(k): n for k, n in counts.of("seconds").items()}
    review = {"backlog": counts.of("backlog").get("", 0),
              "sla_breaches": counts.of("breaches").get("", 0)}
    return {
        "from": start.isoformat(), "to": end.isoformat(),
        "sessions": {"started": sum(by_status.values()),
                     "completed": counts.of("completed").get("", 0),
                     **{st: by_status.get(st, 0) for st in (
                         "approved", "declined", "in_review", "abandoned", "expired",
                         "cancelled")}},
        "funnel": [{"step": k, "passed": v.get("passed", 0), "failed": v.get("failed", 0),
                    "pending": sum(n for st, n in v.items() if st not in ("passed", "failed"))}
                   for k, v in sorted(funnel.items())],
        "top_reasons": [{"reason": r, "count": n} for r, n in reasons.most_common(10)],
        "time_to_decision_seconds": {"median": median_of(seconds),
                                     "p95": quantile(seconds, 0.95)},
        "review": review,
    }


def _review_backlog(s: Session, tenant_ids: Sequence[str], now: datetime) -> list[Any]:
    """(kind, key, n) counters of the tenants' sessions in review ("backlog") and of those in
    review longer than their tenant's SLA ("breaches"; default 24 h), counted by the database
    on the review queue's index."""
    sla = {r.tenant_id: r.sla_hours for r in s.scalars(
        select(ReviewSettings).where(ReviewSettings.tenant_id.in_(list(tenant_ids))))}
    by_hours: dict[int, list[str]] = {}
    for t in tenant_ids:
        by_hours.setdefault(sla.get(t, 24), []).append(t)
    V = VerificationSession
    queue = and_(V.tenant_id.in_(list(tenant_ids)), V.status == Status.IN_REVIEW.value)
    late = or_(false(), *[and_(V.tenant_id.in_(ts), V.decided_at < now - timedelta(hours=h))
                          for h, ts in sorted(by_hours.items())])
    return [select(constant("backlog"), constant(""), func.count()).where(queue),
            select(constant("breaches"), constant(""), func.count()).where(queue, late)]


def matching_ids(s: Session, tenant_ids: Sequence[str], q: str) -> list[str]:
    """Sessions whose id or reference is `q`: two index lookups, done before the list query
    (as an OR inside it, both databases read the tenant's sessions in date order)."""
    found = s.scalars(union(
        select(VerificationSession.id).where(VerificationSession.id == q,
                                             VerificationSession.tenant_id.in_(
                                                 list(tenant_ids))),
        select(VerificationSession.id).where(VerificationSession.tenant_id.in_(
            list(tenant_ids)), VerificationSession.reference == q)))
    return sorted(found)


def session_query(tenant_ids: Sequence[str], *, ids: Sequence[str] | None = None,
                  status: str = "", workflow: str = "", reason: str = "",
                  start: datetime | None = None, end: datetime | None = None,
                  cursor: str = "") -> Any:
    """The sessions list, newest first; `ids` (from `matching_ids`) narrows it to a search."""
    stmt = select(VerificationSession).where(
        VerificationSession.tenant_id.in_(list(tenant_ids)))
    if ids is not None:
        stmt = stmt.where(VerificationSession.id.in_(list(ids)))
    if status:
        if status not in {st.value for st in Status}:
            raise ValidationFailed("unknown status", code="invalid_status")
        stmt = stmt.where(VerificationSession.status == status)
    if workflow:
        stmt = stmt.where(VerificationSession.workflow_id == workflow)
    if reason:
        stmt = stmt.where(reason_filter(reason))
    if start is not None:
        stmt = stmt.where(VerificationSession.created_at >= start)
    if end is not None:
        stmt = stmt.where(VerificationSession.created_at < end)
    if cursor:
        at, sid = decode_cursor(cursor)
        stmt = stmt.where(or_(VerificationSession.created_at < at,
                              and_(VerificationSession.created_at == at,
                                   VerificationSession.id < sid)))
    return stmt.order_by(VerificationSession.created_at.desc(), VerificationSession.id.desc())


def page_of(s: Session, stmt: Any, limit: int) -> tuple[list[VerificationSession], str | None]:
    rows = list(s.scalars(stmt.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)


def _cell(value: object) -> str:
    text = str(value)
    return "'" + text if text and text[0] in "=+-@" else text


def csv_of(rows: Iterable[VerificationSession], columns: Sequence[str]) -> str:
    bad = [c for c in columns if c not in CSV_COLUMNS]
    if bad:
        raise ValidationFailed("an export carries no personal data: unknown or personal "
                               "column", code="column_not_exportable",
                               extra={"allowed": list(CSV_COLUMNS)})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    for r in rows:
        values = {"id": r.id, "tenant_id": r.tenant_id, "status": r.status,
                  "workflow": r.workflow_id, "workflow_version": r.workflow_version,
                  "reference": r.reference,
                  "reasons": " ".join((r.decision or {}).get("reasons", [])),
                  "created_at": r.created_at.isoformat(),
                  "submitted_at": r.submitted_at.isoformat() if r.submitted_at else "",
                  "decided_at": r.decided_at.isoformat() if r.decided_at else ""}
        # a leading = + - @ would be a formula in a spreadsheet
        w.writerow([_cell(values[c]) for c in columns])
    return buf.getvalue()

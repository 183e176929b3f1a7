"""Console insight pages: the sessions list and its CSV export, the dashboard and its charts."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from idproof.audit.events import AuditEvent
from idproof.console.analytics import (
    CSV_COLUMNS,
    csv_of,
    matching_ids,
    page_of,
    session_query,
    summary,
)
from idproof.console.review import PAGE
from idproof.console.web import console_of, page, period, tenant_ids
from idproof.core.errors import IdproofError
from idproof.operators.policy import Action
from idproof.operators.router import HEADERS, _who, message, route, signed_in
from idproof.operators.sessions import Live

EXPORT_MAX = 100_000


# -- sessions -------------------------------------------------------------------------------
@route("GET", "/console/sessions", Action.SESSIONS_LIST)
def sessions_list(request: Request,
                  live: Annotated[Live, Depends(signed_in(Action.SESSIONS_LIST))],
                  q: str = "", status: str = "", workflow: str = "", reason: str = "",
                  start: str = Query("", alias="from"), end: str = Query("", alias="to"),
                  tenant: str = "", cursor: str = "") -> Response:
    svc = console_of(request)
    filters = {"q": q[:128], "status": status[:20], "workflow": workflow[:50],
               "reason": reason[:64], "from": start[:32], "to": end[:32],
               "tenant": tenant[:64]}
    try:
        a, b = (period(filters["from"], filters["to"], svc.now())
                if filters["from"] or filters["to"] else (None, None))
        tenants = tenant_ids(request, live, filters["tenant"])
        with request.app.state.container.db.read() as s:
            ids = matching_ids(s, tenants, filters["q"]) if filters["q"] else None
            stmt = session_query(tenants, ids=ids, status=filters["status"],
                                 workflow=filters["workflow"], reason=filters["reason"],
                                 start=a, end=b, cursor=cursor[:300])
            rows, nxt = page_of(s, stmt, PAGE)
    except IdproofError:
        return page(request, live, "sessions.html", status=422, rows=[], next_cursor=None,
                    filters=filters, error="A filter is not valid.", query="")
    return page(request, live, "sessions.html", rows=rows, next_cursor=nxt, filters=filters,
                query=urlencode({k: v for k, v in filters.items() if v}))


@route("GET", "/console/sessions.csv", Action.SESSIONS_LIST)
def sessions_csv(request: Request,
                 live: Annotated[Live, Depends(signed_in(Action.SESSIONS_LIST))],
                 q: str = "", status: str = "", workflow: str = "", reason: str = "",
                 start: str = Query("", alias="from"), end: str = Query("", alias="to"),
                 tenant: str = "", columns: str = "") -> Response:
    svc = console_of(request)
    cols = [c.strip() for c in columns.split(",") if c.strip()] or list(CSV_COLUMNS)
    try:
        a, b = period(start[:32], end[:32], svc.now()) if start or end else (None, None)
        tenants = tenant_ids(request, live, tenant[:64])
        with request.app.state.container.db.read() as s:
            ids = matching_ids(s, tenants, q[:128]) if q else None
            stmt = session_query(tenants, ids=ids, status=status[:20], workflow=workflow[:50],
                                 reason=reason[:64], start=a, end=b)
            body = csv_of(s.scalars(stmt.limit(EXPORT_MAX)), cols)
    except IdproofError as exc:
        return message("Not exported", "An export carries ids, statuses, reason codes and "
                       "times only; personal data cannot be exported here.",
                       status=exc.status, link="/console/sessions", link_text="Sessions")
    who = _who(request)
    svc.record(AuditEvent(action="sessions.exported", actor_type="operator",
                          actor_id=live.operator_id, ip=who.ip, request_id=who.request_id,
                          details={"columns": cols, "rows": body.count("\n") - 1}))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={**HEADERS,
                             "Content-Disposition": 'attachment; filename="sessions.csv"'})


# -- dashboard ------------------------------------------------------------------------------
@route("GET", "/console/dashboard", Action.DASHBOARD_VIEW)
def dashboard(request: Request,
              live: Annotated[Live, Depends(signed_in(Action.DASHBOARD_VIEW))],
              start: str = Query("", alias="from"), end: str = Query("", alias="to"),
              tenant: str = "") -> Response:
    svc = console_of(request)
    filters = {"from": start[:32], "to": end[:32], "tenant": tenant[:64]}
    try:
        a, b = period(filters["from"], filters["to"], svc.now())
        with request.app.state.container.db.read() as s:
            figures = summary(s, tenant_ids(request, live, filters["tenant"]), a, b,
                              svc.now())
    except IdproofError:
        return page(request, live, "dashboard.html", status=422, figures=None,
                    filters=filters, error="The period is not valid.", charts={})
    return page(request, live, "dashboard.html", figures=figures, filters=filters,
                charts=charts(figures))


def charts(f: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Bar charts as data the template draws in SVG (widths in percent of the largest)."""
    def bars(pairs: list[tuple[str, int]]) -> list[dict[str, Any]]:
        top = max([n for _, n in pairs] + [1])
        return [{"label": k, "value": n, "pct": round(100 * n / top, 1)} for k, n in pairs]
    st = f["sessions"]
    return {"outcomes": bars([(k, st[k]) for k in ("started", "completed", "approved",
                                                    "declined", "in_review", "abandoned")]),
            "funnel": bars([(x["step"], x["passed"]) for x in f["funnel"]]),
            "reasons": bars([(x["reason"], x["count"]) for x in f["top_reasons"]])}

"""Console work pages: the review queue, a case, its images, reveal with purpose, decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

from idproof.audit.events import AuditEvent
from idproof.console.analytics import CSV_COLUMNS, csv_of, page_of, session_query, summary
from idproof.console.review import PAGE, ReviewConsole, visible_tenants
from idproof.core.errors import IdproofError, ValidationFailed
from idproof.operators.console import context
from idproof.operators.policy import (
    PERMISSIONS,
    Action,
    OperatorContext,
    Resource,
    Role,
    can,
)
from idproof.operators.router import (
    HEADERS,
    ConsoleExit,
    _csrf,
    _who,
    message,
    route,
    signed_in,
)
from idproof.operators.sessions import Live
from idproof.verification.review import REVIEW_REASONS, ReviewRequest
from idproof.verification.service import Actor

_env = Environment(loader=ChoiceLoader([PackageLoader("idproof.console", "templates"),
                                        PackageLoader("idproof.operators", "templates")]),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)
IMAGE_HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'",
                 "Cross-Origin-Resource-Policy": "same-origin",
                 "X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"}


def _console(request: Request) -> ReviewConsole:
    state = request.app.state
    found = getattr(state, "review_console", None)
    if found is None:
        found = ReviewConsole(state.container)
        state.review_console = found
    return found


def page(request: Request, live: Live, template: str, *, status: int = 200,
         **ctx: Any) -> HTMLResponse:
    op = context(live, _console(request).now())
    nav = [(href, label) for href, label, action in NAV if can(op, action)]
    html = _env.get_template(template).render(csrf=_csrf(request), role=live.role,
                                              operator_id=live.operator_id, nav=nav, **ctx)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


EXPORT_MAX = 100_000
NAV = [("/console/review", "Review", Action.REVIEW_DECIDE),
       ("/console/sessions", "Sessions", Action.SESSIONS_LIST),
       ("/console/dashboard", "Dashboard", Action.DASHBOARD_VIEW)]


def permitted(live: Live, action: Action) -> bool:
    """The operator's role includes `action` (attributes are checked per object)."""
    return action in PERMISSIONS.get(Role(live.role), frozenset())


def role_may(action: Action) -> Any:
    """Dependency: signed in (CSRF-checked) and the role includes `action`; the object's
    attributes (tenant, region, assignment, purpose, step-up) are checked by `allow()`."""
    base = signed_in(Action.CONSOLE_VIEW)

    async def dependency(request: Request) -> Live:
        live: Live = await base(request)
        if not permitted(live, action):
            request.app.state.container.console.refused(
                live, action.value, "role_not_permitted", _who(request), request.url.path)
            raise ConsoleExit(message("Not allowed", "You cannot open this page.",
                                      status=403, link="/console/",
                                      link_text="Console home"))
        return live

    return dependency


def op_of(request: Request, live: Live) -> OperatorContext:
    return context(live, _console(request).now())


def allow(request: Request, live: Live, action: Action, session_id: str,
          purpose: str | None = None) -> str:
    """The session's tenant when `can()` lets the operator take `action` on it; else the
    request ends (404 for another tenant's, region's or someone else's assigned case)."""
    svc = _console(request)
    try:
        tenant_id, region, assignee = svc.locate(op_of(request, live), session_id)
    except IdproofError:
        raise ConsoleExit(message("Not found", "There is no such session.", status=404,
                                  link="/console/", link_text="Console home")) from None
    decision = can(op_of(request, live), action,
                   Resource(tenant_id=tenant_id, region=region, assigned_to=assignee,
                            purpose=purpose))
    if decision.allowed:
        return tenant_id
    if decision.step_up:
        raise ConsoleExit(RedirectResponse(f"/console/step-up?next=/console/review/{session_id}",
                                           status_code=303, headers=HEADERS))
    request.app.state.container.console.refused(live, action.value, decision.reason,
                                                _who(request), request.url.path)
    if decision.status == 404:
        raise ConsoleExit(message("Not found", "There is no such session.", status=404,
                                  link="/console/", link_text="Console home"))
    raise ConsoleExit(message("Not allowed", "You cannot do this.", status=decision.status,
                              link=f"/console/review/{session_id}", link_text="Back"))


# -- the queue ------------------------------------------------------------------------------
@route("GET", "/console/review", Action.REVIEW_DECIDE)
def review_queue(request: Request,
                 live: Annotated[Live, Depends(role_may(Action.REVIEW_DECIDE))],
                 tenant: str = "", workflow: str = "", reason: str = "", assigned: str = "",
                 overdue: str = "", cursor: str = "") -> Response:
    svc = _console(request)
    filters = {"tenant": tenant[:64], "workflow": workflow[:50], "reason": reason[:64],
               "assigned": assigned if assigned in ("me", "none") else "",
               "overdue": "1" if overdue else ""}
    try:
        result = svc.queue(op_of(request, live), tenant=filters["tenant"] or None,
                           workflow=filters["workflow"] or None,
                           reason=filters["reason"] or None,
                           assigned=filters["assigned"] or None, overdue=bool(overdue),
                           cursor=cursor[:300] or None)
    except IdproofError:
        return page(request, live, "review_queue.html", status=422, items=[],
                    next_cursor=None, filters=filters, error="A filter is not valid.",
                    reasons=sorted(REVIEW_REASONS), now=svc.now())
    return page(request, live, "review_queue.html", items=result.items,
                next_cursor=result.next_cursor, filters=filters,
                reasons=sorted(REVIEW_REASONS), now=svc.now())


def _case_page(request: Request, live: Live, session_id: str, *, status: int = 200,
               revealed: dict[str, Any] | None = None, **ctx: Any) -> HTMLResponse:
    svc = _console(request)
    full = permitted(live, Action.SESSION_READ)
    case = svc.case(session_id, with_images=full)
    return page(request, live, "review_case.html", status=status, case=case,
                full=full, can_decide=permitted(live, Action.REVIEW_DECIDE),
                can_reveal=permitted(live, Action.PII_REVEAL),
                revealed=revealed, catalogue=REVIEW_REASONS, now=svc.now(), **ctx)


@route("GET", "/console/review/{session_id}", Action.SESSIONS_LIST)
def review_case(request: Request, session_id: str,
                live: Annotated[Live, Depends(signed_in(Action.SESSIONS_LIST))]) -> Response:
    # Those who may read a case get all of it (for them the assignment rule applies);
    # the others (analysts, admins) see the session without images or fields.
    action = (Action.SESSION_READ if permitted(live, Action.SESSION_READ)
              else Action.SESSIONS_LIST)
    allow(request, live, action, session_id)
    return _case_page(request, live, session_id)


@route("GET", "/console/review/{session_id}/images/{capture_id}", Action.SESSION_READ)
def review_image(request: Request, session_id: str, capture_id: str,
                 live: Annotated[Live, Depends(role_may(Action.SESSION_READ))]) -> Response:
    tenant_id = allow(request, live, Action.SESSION_READ, session_id)
    svc = _console(request)
    data = svc.image(session_id, capture_id)
    if data is None:
        return Response(status_code=404, headers=IMAGE_HEADERS)
    who = _who(request)
    svc.record(AuditEvent(action="session.image_viewed", actor_type="operator",
                          actor_id=live.operator_id, tenant_id=tenant_id,
                          target_type="session", target_id=session_id, ip=who.ip,
                          request_id=who.request_id, details={"capture": capture_id}))
    return Response(data, media_type="image/jpeg", headers=IMAGE_HEADERS)


@route("POST", "/console/review/{session_id}/reveal", Action.PII_REVEAL)
def review_reveal(request: Request, session_id: str,
                  live: Annotated[Live, Depends(role_may(Action.SESSION_READ))],
                  purpose: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Extracted fields for a stated purpose (step-up when the second factor is old)."""
    purpose = purpose.strip()
    if not purpose:
        allow(request, live, Action.SESSION_READ, session_id)
        who = _who(request)
        request.app.state.container.console.refused(live, Action.PII_REVEAL.value,
                                                    "purpose_required", who,
                                                    request.url.path)
        return _case_page(request, live, session_id, status=422,
                          error="State why you need to see this data (a purpose).")
    tenant_id = allow(request, live, Action.PII_REVEAL, session_id, purpose=purpose)
    who = _who(request)
    try:
        data = request.app.state.container.captures.read_data(
            Actor(tenant_id=tenant_id, client_id=live.operator_id, ip=who.ip,
                  request_id=who.request_id, actor_type="operator"), session_id, purpose)
    except IdproofError as exc:
        return _case_page(request, live, session_id, status=exc.status,
                          error="The purpose is not acceptable (a short line of text).")
    return _case_page(request, live, session_id, revealed=data.fields.get("document") or {},
                      purpose=purpose)


# -- assignment -----------------------------------------------------------------------------
def _assign(request: Request, live: Live, session_id: str, to: str | None) -> Response:
    tenant_id = allow(request, live, Action.REVIEW_DECIDE, session_id) if to != live.operator_id \
        else _take_tenant(request, live, session_id)
    who = _who(request)
    try:
        _console(request).assign(live.operator_id, session_id, tenant_id, to, ip=who.ip,
                                 request_id=who.request_id)
    except IdproofError as exc:
        return _case_page(request, live, session_id, status=exc.status,
                          error="This session cannot be assigned (it may have been decided).")
    return RedirectResponse(f"/console/review/{session_id}", status_code=303, headers=HEADERS)


def _take_tenant(request: Request, live: Live, session_id: str) -> str:
    # Taking a case is how an assigned-only reviewer would get more work: only an
    # unrestricted reviewer may take; an assigned-only one must be assigned by someone else.
    op = op_of(request, live)
    svc = _console(request)
    tenant_id, region, assignee = svc.locate(op, session_id)
    d = can(op, Action.REVIEW_DECIDE, Resource(tenant_id=tenant_id, region=region,
                                                assigned_to=live.operator_id
                                                if not op.assigned_only else assignee))
    if not d.allowed:
        raise ConsoleExit(message("Not found", "There is no such session.", status=404,
                                  link="/console/", link_text="Console home"))
    return tenant_id


@route("POST", "/console/review/{session_id}/take", Action.REVIEW_DECIDE)
def review_take(request: Request, session_id: str,
                live: Annotated[Live, Depends(role_may(Action.REVIEW_DECIDE))]) -> Response:
    return _assign(request, live, session_id, live.operator_id)


@route("POST", "/console/review/{session_id}/release", Action.REVIEW_DECIDE)
def review_release(request: Request, session_id: str,
                   live: Annotated[Live, Depends(role_may(Action.REVIEW_DECIDE))]
                   ) -> Response:
    return _assign(request, live, session_id, None)


@route("POST", "/console/review/{session_id}/assign", Action.REVIEW_DECIDE)
def review_assign(request: Request, session_id: str,
                  live: Annotated[Live, Depends(role_may(Action.REVIEW_DECIDE))],
                  operator: Annotated[str, Form(max_length=40)] = "") -> Response:
    return _assign(request, live, session_id, operator or None)


# -- the decision ---------------------------------------------------------------------------
@route("POST", "/console/review/{session_id}/decide", Action.REVIEW_DECIDE)
async def review_decide(request: Request, session_id: str,
                        live: Annotated[Live, Depends(role_may(Action.REVIEW_DECIDE))]
                        ) -> Response:
    form = await request.form()
    decision = str(form.get("decision", ""))[:16]
    reasons = tuple(str(r)[:64] for r in form.getlist("reasons"))[:10]
    steps = tuple(str(r)[:20] for r in form.getlist("steps"))[:10]
    note = str(form.get("note", ""))[:4000]
    version = str(form.get("version", ""))[:64] or None
    tenant_id = allow(request, live, Action.REVIEW_DECIDE, session_id)
    who = _who(request)
    svc = request.app.state.container.sessions
    try:
        out = svc.review(Actor(tenant_id=tenant_id, client_id=live.operator_id, ip=who.ip,
                               request_id=who.request_id, actor_type="operator"),
                         session_id, ReviewRequest(decision, reasons, note, steps),
                         version=version)
    except IdproofError as exc:
        texts = {"review_conflict": "Someone else changed or decided this session while you "
                                    "were looking at it. Nothing was saved; review it again.",
                 "not_in_review": "This session is no longer in review. Nothing was saved.",
                 "reasons_required": "Give at least one reason for a decline.",
                 "steps_required": "Choose the steps the person must redo.",
                 "second_reviewer_required": "You proposed this decision: a second reviewer "
                                             "must confirm it.",
                 "note_required": "The reason \u201cother\u201d needs a note."}
        return _case_page(request, live, session_id, status=exc.status,
                          error=texts.get(exc.code, "The decision could not be saved."),
                          form={"decision": decision, "reasons": reasons, "note": note,
                                "steps": steps})
    if out.pending_second_review:
        notice = "Recorded. A second reviewer must confirm this decision."
    elif out.url:
        notice = "The person was asked to redo the chosen steps; their link works again."
    else:
        notice = f"The session is now {out.status}."
    return _case_page(request, live, session_id, notice=notice)


# -- sessions -------------------------------------------------------------------------------
def _period(start: str, end: str, now: datetime) -> tuple[datetime, datetime]:
    def parse(v: str, default: datetime) -> datetime:
        if not v:
            return default
        try:
            d = datetime.fromisoformat(v)
        except ValueError:
            raise ValidationFailed("dates are YYYY-MM-DD", code="invalid_date") from None
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    a = parse(start, now - timedelta(days=30))
    b = parse(end, now + timedelta(seconds=1))
    if len(end) == 10:
        b += timedelta(days=1)  # a date includes its whole day
    return a, b


def _tenant_ids(request: Request, live: Live, tenant: str = "") -> list[str]:
    with request.app.state.container.db.read() as s:
        tenants = visible_tenants(s, op_of(request, live))
    return [t for t in tenants if tenant in ("", t, tenants[t].name)]


@route("GET", "/console/sessions", Action.SESSIONS_LIST)
def sessions_list(request: Request,
                  live: Annotated[Live, Depends(signed_in(Action.SESSIONS_LIST))],
                  q: str = "", status: str = "", workflow: str = "", reason: str = "",
                  start: str = Query("", alias="from"), end: str = Query("", alias="to"),
                  tenant: str = "", cursor: str = "") -> Response:
    svc = _console(request)
    filters = {"q": q[:128], "status": status[:20], "workflow": workflow[:50],
               "reason": reason[:64], "from": start[:32], "to": end[:32],
               "tenant": tenant[:64]}
    try:
        a, b = (_period(filters["from"], filters["to"], svc.now())
                if filters["from"] or filters["to"] else (None, None))
        stmt = session_query(_tenant_ids(request, live, filters["tenant"]), q=filters["q"],
                             status=filters["status"], workflow=filters["workflow"],
                             reason=filters["reason"], start=a, end=b, cursor=cursor[:300])
        with request.app.state.container.db.read() as s:
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
    svc = _console(request)
    cols = [c.strip() for c in columns.split(",") if c.strip()] or list(CSV_COLUMNS)
    try:
        a, b = _period(start[:32], end[:32], svc.now()) if start or end else (None, None)
        stmt = session_query(_tenant_ids(request, live, tenant[:64]), q=q[:128],
                             status=status[:20], workflow=workflow[:50], reason=reason[:64],
                             start=a, end=b)
        with request.app.state.container.db.read() as s:
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
    svc = _console(request)
    filters = {"from": start[:32], "to": end[:32], "tenant": tenant[:64]}
    try:
        a, b = _period(filters["from"], filters["to"], svc.now())
        with request.app.state.container.db.read() as s:
            figures = summary(s, _tenant_ids(request, live, filters["tenant"]), a, b,
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

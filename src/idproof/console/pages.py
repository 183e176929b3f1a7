"""Console work pages: the review queue, a case, its images, reveal with purpose, decisions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from idproof.audit.events import AuditEvent
from idproof.console.web import console_of as _console
from idproof.console.web import op_of, page, permitted, role_may
from idproof.core.errors import IdproofError
from idproof.operators.policy import Action, Resource, can
from idproof.operators.router import HEADERS, ConsoleExit, _who, message, route, signed_in
from idproof.operators.sessions import Live
from idproof.screening.hits import HitReview
from idproof.signals.console_view import case_signals
from idproof.verification.review import REVIEW_REASONS, ReviewRequest
from idproof.verification.service import Actor

IMAGE_HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'",
                 "Cross-Origin-Resource-Policy": "same-origin",
                 "X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"}


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
    c = request.app.state.container
    signals = case_signals(c.signals, case.session.tenant_id, case.session.id, full=full)
    # Screening hits (list data, no personal data of the person): a reviewer marks each one.
    hits = (HitReview(c.db, c.audit, c.clock).for_session(case.session.tenant_id,
                                                          case.session.id)
            if permitted(live, Action.REVIEW_DECIDE) else None)
    return page(request, live, "review_case.html", status=status, case=case,
                full=full, signals=signals, screening_hits=hits,
                can_decide=permitted(live, Action.REVIEW_DECIDE),
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

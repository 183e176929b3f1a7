"""Console pages to review screening hits: the open hits, one hit, confirm or dismiss it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from idproof.console.review import visible_tenants
from idproof.console.web import NAV, op_of, role_may
from idproof.core.errors import IdproofError
from idproof.operators.policy import Action, can
from idproof.operators.router import HEADERS, _csrf, _who, route
from idproof.operators.sessions import Live
from idproof.screening.hits import STATUSES, HitReview, HitView

_env = Environment(loader=ChoiceLoader([PackageLoader("idproof.screening", "templates"),
                                        PackageLoader("idproof.console", "templates"),
                                        PackageLoader("idproof.operators", "templates")]),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)
Reviewer = Annotated[Live, Depends(role_may(Action.REVIEW_DECIDE))]
_ERRORS = {"hit_already_reviewed": "Someone else reviewed this hit meanwhile. Nothing was saved.",
           "note_required": "Say why in a note.",
           "note_invalid": "The note is too long or holds control characters.",
           "verdict_invalid": "Choose true match or false positive."}


def _review(request: Request) -> HitReview:
    c = request.app.state.container
    return HitReview(c.db, c.audit, c.clock)


def _tenants(request: Request, live: Live) -> list[str]:
    with request.app.state.container.db.read() as s:
        return list(visible_tenants(s, op_of(request, live)))


def _page(request: Request, live: Live, template: str, *, status: int = 200,
          **ctx: Any) -> HTMLResponse:
    op = op_of(request, live)
    nav = [(href, label) for href, label, action in NAV if can(op, action)]
    html = _env.get_template(template).render(
        csrf=_csrf(request), role=live.role, operator_id=live.operator_id, nav=nav,
        request_path=request.url.path, **ctx)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


@route("GET", "/console/screening", Action.REVIEW_DECIDE)
def hits_page(request: Request, live: Reviewer, status: str = "open") -> Response:
    status = status if status in STATUSES else "open"
    hits = _review(request).by_status(_tenants(request, live), status)
    return _page(request, live, "screening_hits.html", hits=hits, status_filter=status,
                 statuses=STATUSES)


def _hit_page(request: Request, live: Live, hit: HitView, *, status: int = 200,
              **ctx: Any) -> HTMLResponse:
    return _page(request, live, "screening_hit.html", hit=hit, status=status, **ctx)


@route("GET", "/console/screening/{hit_id}", Action.REVIEW_DECIDE)
def hit_page(request: Request, hit_id: str, live: Reviewer) -> Response:
    try:
        hit = _review(request).get(_tenants(request, live), hit_id[:64])
    except IdproofError:
        return _page(request, live, "screening_hits.html", status=404, hits=[],
                     status_filter="open", statuses=STATUSES, error="There is no such hit.")
    return _hit_page(request, live, hit)


@route("POST", "/console/screening/{hit_id}/review", Action.REVIEW_DECIDE)
async def hit_review(request: Request, hit_id: str, live: Reviewer) -> Response:
    form = await request.form()
    verdict = str(form.get("verdict", ""))[:16]
    note = str(form.get("note", ""))[:4000]
    tenants = await run_in_threadpool(_tenants, request, live)
    svc, who = _review(request), _who(request)
    try:
        hit = await run_in_threadpool(svc.get, tenants, hit_id[:64])
    except IdproofError:
        return _page(request, live, "screening_hits.html", status=404, hits=[],
                     status_filter="open", statuses=STATUSES, error="There is no such hit.")
    try:
        done = await run_in_threadpool(lambda: svc.decide(
            tenants, hit.id, verdict, note, operator_id=live.operator_id, ip=who.ip,
            request_id=who.request_id))
    except IdproofError as exc:
        return _hit_page(request, live, hit, status=exc.status, note=note,
                         error=_ERRORS.get(exc.code, "The review could not be saved."))
    word = "a true match" if done.status == "confirmed" else "a false positive"
    return _hit_page(request, live, done, notice=f"Recorded as {word}.")

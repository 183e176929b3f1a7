"""Continue on a phone: the QR code page (desktop) and the link the phone opens."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, get_container, request_id
from idproof.core.errors import Conflict
from idproof.hosted.flow import Page
from idproof.hosted.flow_page import flow_page
from idproof.hosted.pages import message, post_guard, render, service, set_cookie

router = APIRouter(include_in_schema=False)


def qr_svg(url: str) -> str:
    """The link as a QR code, an SVG data URI drawn here (no third party, CSP img-src data:)."""
    return str(segno.make(url, error="m").svg_data_uri(scale=5, border=4))


@router.post("/verify/s/handoff")
async def create_handoff(request: Request,
                         csrf_token: Annotated[str | None, Form()] = None) -> Response:
    guarded = await post_guard(request, csrf_token)
    if isinstance(guarded, Response):
        return guarded
    svc, browser, cookie = guarded
    state = await run_in_threadpool(svc.state, browser)
    try:
        token = await run_in_threadpool(
            lambda: svc.handoffs.create(browser_id=browser.id, tenant_id=browser.tenant_id,
                                        session_id=browser.session_id, ip=client_ip(request),
                                        request_id=request_id(request)))
    except Conflict:
        return message(request, "ended", status=409, locale=state.locale,
                       origins=state.origins)
    url = get_container(request).settings.public_url.rstrip("/") + f"/verify/h/{token}"
    minutes = int(svc.handoffs.ttl.total_seconds() // 60)
    return render(request, "handoff_qr.html", locale=state.locale, origins=state.origins,
                  page=Page("handoff_qr"), session_id=state.view.id,
                  session_status=state.view.status, csrf=svc.csrf_token(cookie),
                  origins_attr=" ".join(state.origins), qr=qr_svg(url), link=url,
                  minutes=minutes)


@router.get("/verify/h/{token}")
async def take_handoff(request: Request, token: str) -> Response:
    svc = service(request)
    taken = await run_in_threadpool(
        lambda: svc.handoffs.take(token, ip=client_ip(request), request_id=request_id(request)))
    if taken.outcome == "invalid" or taken.cookie is None:
        return message(request, "invalid" if taken.outcome == "invalid" else taken.outcome,
                       status=404 if taken.outcome == "invalid" else 410)
    browser = await run_in_threadpool(svc.resolve, taken.cookie)
    if browser is None:  # pragma: no cover - just created
        return message(request, "nosession", status=401)
    actor = svc.actor(browser, client_ip(request), request_id(request))
    state = await run_in_threadpool(svc.advance, browser, actor)
    # Rendered here, not redirected: the SameSite=Strict cookie set on a navigation from
    # another site (the camera app) would not be sent on the redirect.
    response = await flow_page(request, svc, browser, taken.cookie, state)
    set_cookie(request, response, taken.cookie, browser)
    return response

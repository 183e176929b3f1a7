"""Routes of the hosted flow (`/verify/...`): the pages, consent, cancel, the uploads, the link.

Pages are rendered on the server (Jinja2, autoescaped) with one small script from our own
origin, under a CSP without inline script. Every POST carries the CSRF token bound to the
browser session; the cookie is HttpOnly, SameSite=Strict, and Secure behind TLS. The JSON
endpoints of the liveness step and the status poll are in `live_routes.py`, the SDK and the
page assets in `assets.py`, the phone hand-off in `handoff_routes.py`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, request_id
from idproof.core.errors import IdproofError
from idproof.hosted import (
    assets,
    branding_api,
    consent_routes,
    handoff_routes,
    live_routes,
    step_routes,
)
from idproof.hosted.flow import CAPTURE_PAGES, PERSON_PAGES, Page
from idproof.hosted.flow_page import flow_page
from idproof.hosted.pages import (
    COOKIE,
    back_to_flow,
    browser_of,
    cookie_of,
    message,
    nosession,
    post_guard,
    read_upload,
    render,
    service,
    set_cookie,
    translator,
    upload_reason,
)
from idproof.hosted.service import Browser, HostedService
from idproof.http.forms import InMemoryFormRoute
from idproof.verification.lifecycle import Status

__all__ = ["COOKIE", "router"]

# Multipart bodies (documents, selfies, frames) are parsed in memory, never spooled to disk.
router = APIRouter(include_in_schema=False, route_class=InMemoryFormRoute)
router.include_router(assets.router)
router.include_router(live_routes.router)
router.include_router(handoff_routes.router)
router.include_router(branding_api.assets)
router.include_router(consent_routes.router)
router.include_router(step_routes.router)


# -- the flow ---------------------------------------------------------------------------------
@router.get("/verify/s")
async def flow(request: Request) -> Response:
    found = await run_in_threadpool(browser_of, request)
    if found is None:
        return nosession(request)
    svc, browser, cookie = found
    actor = svc.actor(browser, client_ip(request), request_id(request))
    state = await run_in_threadpool(svc.advance, browser, actor)
    watching = await run_in_threadpool(svc.handoffs.watching, browser.id)
    return await flow_page(request, svc, browser, cookie, state, watching=watching)


OPEN = {Status.NOT_STARTED.value, Status.IN_PROGRESS.value}


async def _step_error(request: Request, svc: HostedService, browser: Browser, cookie: str,
                      exc: IdproofError, key: str | None = None) -> Response:
    if await run_in_threadpool(svc.resolve, cookie) is None:
        # The session went while the step ran (erased on a consent withdrawal or an
        # erasure request; the browser session goes with it): no flow page to show.
        return nosession(request)
    state = await run_in_threadpool(svc.state, browser)
    if state.page.name not in CAPTURE_PAGES or state.view.status not in OPEN:
        # The session moved on meanwhile (decided early, or cancelled from another tab): say
        # that, not a misleading upload error.
        return await back_to_flow(svc, browser)
    t = translator(request, state.locale)
    if key is None:
        key = upload_reason(exc)
    text = t("upload.rejected", reason=t(key)) if key.startswith("upload.") else t(key)
    return await flow_page(request, svc, browser, cookie, state, error=text,
                 status=exc.status if exc.status >= 400 else 400)


@router.post("/verify/s/consent")
async def consent(request: Request,
                  csrf_token: Annotated[str | None, Form()] = None,
                  agree: Annotated[str | None, Form()] = None,
                  version: Annotated[str | None, Form(max_length=32)] = None) -> Response:
    guarded = await post_guard(request, csrf_token)
    if isinstance(guarded, Response):
        return guarded
    svc, browser, cookie = guarded
    if agree != "yes":
        state = await run_in_threadpool(svc.state, browser)
        t = translator(request, state.locale)
        return await flow_page(request, svc, browser, cookie, state, error=t("consent.required"),
                     status=422)
    state = await run_in_threadpool(svc.state, browser)
    locale = translator(request, state.locale).locale
    actor = svc.actor(browser, client_ip(request), request_id(request))
    try:
        await run_in_threadpool(svc.give_consent, browser, actor, locale=locale,
                                version=version or "")
    except IdproofError as exc:
        return await _step_error(request, svc, browser, cookie, exc, "error.heading")
    return await back_to_flow(svc, browser)


@router.post("/verify/s/cancel")
async def cancel(request: Request,
                 csrf_token: Annotated[str | None, Form()] = None,
                 confirm: Annotated[str | None, Form(max_length=8)] = None,
                 via: Annotated[str | None, Form(max_length=8)] = None) -> Response:
    guarded = await post_guard(request, csrf_token)
    if isinstance(guarded, Response):
        return guarded
    svc, browser, cookie = guarded
    state = await run_in_threadpool(svc.state, browser)
    if confirm != "yes":
        # One click never cancels: the person confirms on a page of its own (the SDK's close
        # button and Escape land here too), or goes back to where they were.
        if state.page.name not in {"consent", *PERSON_PAGES}:
            return await back_to_flow(svc, browser)
        return render(request, "cancel.html", locale=state.locale, origins=state.origins,
                       page=Page("cancel"), csrf=svc.csrf_token(cookie),
                       session_id=browser.session_id, session_status=state.view.status,
                       via="sdk" if via == "sdk" else "page",
                       origins_attr=" ".join(state.origins))
    actor = svc.actor(browser, client_ip(request), request_id(request))
    await run_in_threadpool(svc.cancel, browser, actor,
                            via="sdk" if via == "sdk" else "page")
    state = await run_in_threadpool(svc.state, browser)
    return render(request, "message.html", locale=state.locale, origins=state.origins,
                   heading="cancelled.heading", text="cancelled.text", event="cancel",
                   session_id=browser.session_id, session_status=state.view.status,
                   origins_attr=" ".join(state.origins))


@router.post("/verify/s/documents")
async def documents(request: Request,
                    csrf_token: Annotated[str | None, Form()] = None,
                    document_type: Annotated[str | None, Form(max_length=32)] = None,
                    country: Annotated[str | None, Form(max_length=3)] = None,
                    front: Annotated[UploadFile | None, File()] = None,
                    back: Annotated[UploadFile | None, File()] = None) -> Response:
    guarded = await post_guard(request, csrf_token)
    if isinstance(guarded, Response):
        return guarded
    svc, browser, cookie = guarded
    front_data, back_data = await read_upload(front), await read_upload(back)
    actor = svc.actor(browser, client_ip(request), request_id(request))
    if not document_type:
        return await _step_error(request, svc, browser, cookie,
                                 IdproofError(status=422), "upload.type_missing")
    try:
        await run_in_threadpool(svc.upload_documents, browser, actor,
                                document_type=document_type, country=country or None,
                                front=front_data, back=back_data or None)
    except IdproofError as exc:
        key = {"image_missing": "upload.missing", "back_required": "upload.back_missing",
               "document_type_not_allowed": "reason.document_type_not_allowed",
               "country_not_allowed": "reason.country_not_allowed"}.get(exc.code)
        if exc.code == "consent_required":
            return await back_to_flow(svc, browser)
        return await _step_error(request, svc, browser, cookie, exc, key)
    await _settled(svc, browser, "document")
    return await back_to_flow(svc, browser)


async def _settled(svc: HostedService, browser: Browser, step: str) -> None:
    """Holds the upload's response (without a thread) until the worker has judged the photos
    or `settle_seconds` pass: a blurred or unreadable document is then asked for again on the
    same step, before the person moves on; a slow worker still lets them go on (the next page
    polls and comes back for a retake)."""
    deadline = time.monotonic() + svc.settle_seconds
    while time.monotonic() < deadline:
        if await run_in_threadpool(svc.step_state, browser, step) != "processing":
            return
        await asyncio.sleep(0.25)


@router.post("/verify/s/selfie")
async def selfie(request: Request,
                 csrf_token: Annotated[str | None, Form()] = None,
                 file: Annotated[UploadFile | None, File()] = None) -> Response:
    guarded = await post_guard(request, csrf_token)
    if isinstance(guarded, Response):
        return guarded
    svc, browser, cookie = guarded
    data = await read_upload(file)
    actor = svc.actor(browser, client_ip(request), request_id(request))
    try:
        await run_in_threadpool(svc.submit_selfie, browser, actor, data)
    except IdproofError as exc:
        if exc.code == "consent_required":
            return await back_to_flow(svc, browser)
        key = {"image_missing": "upload.missing",
               "biometrics_unavailable": "error.heading"}.get(exc.code)
        return await _step_error(request, svc, browser, cookie, exc, key)
    return await back_to_flow(svc, browser)


# -- the link ---------------------------------------------------------------------------------
def _cross_site_frame(request: Request) -> bool:
    """Opened in a frame of another site: there the browser never sends our SameSite=Strict
    cookie (and blocks third-party cookies), so the flow cannot go on inside the frame."""
    return (request.headers.get("sec-fetch-dest") == "iframe"
            and request.headers.get("sec-fetch-site") == "cross-site")


@router.get("/verify/{link}")
async def open_link(request: Request, link: str) -> Response:
    svc = service(request)
    if _cross_site_frame(request):
        # Hand off to a top-level window (the link stays unused until it opens there).
        peeked = await run_in_threadpool(svc.peek_link, link)
        if peeked.outcome == "elsewhere":
            return message(request, "elsewhere", status=421)
        if peeked.outcome == "invalid":
            return message(request, "invalid", status=404)
        if peeked.outcome != "ok":
            return message(request, peeked.outcome, status=410, origins=peeked.origins)
        return render(request, "handoff.html", origins=peeked.origins, page=Page("handoff"),
                       link_path=f"/verify/{link}", origins_attr=" ".join(peeked.origins))
    opened = await run_in_threadpool(
        lambda: svc.open_link(link, cookie=cookie_of(request), ip=client_ip(request),
                              request_id=request_id(request)))
    if opened.outcome == "elsewhere":  # residency: a tenant of another region
        return message(request, "elsewhere", status=421)
    if opened.outcome == "invalid":
        return message(request, "invalid", status=404)
    if opened.outcome in {"used", "ended"}:
        return message(request, opened.outcome, status=410, origins=opened.origins)
    # Render the flow right here rather than redirecting: a SameSite=Strict cookie set on a
    # navigation that came from another site is not sent on a redirect within that chain.
    cookie = opened.cookie or cookie_of(request)
    assert cookie is not None
    browser = await run_in_threadpool(svc.resolve, cookie)
    if browser is None:  # pragma: no cover - just created or just checked
        return nosession(request)
    actor = svc.actor(browser, client_ip(request), request_id(request))
    state = await run_in_threadpool(svc.advance, browser, actor)
    response = await flow_page(request, svc, browser, cookie, state)
    if opened.cookie is not None:
        set_cookie(request, response, opened.cookie, browser)
    return response

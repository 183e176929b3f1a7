"""Routes of the hosted flow (`/verify/...`): the pages, consent, cancel, the uploads, the link.

Pages are rendered on the server (Jinja2, autoescaped) with one small script from our own
origin, under a CSP without inline script. Every POST carries the CSRF token bound to the
browser session; the cookie is HttpOnly, SameSite=Strict, and Secure behind TLS. The JSON
endpoints of the liveness step and the status poll are in `live_routes.py`, the SDK and the
page assets in `assets.py`, the phone hand-off in `handoff_routes.py`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from idproof.core.errors import IdproofError
from idproof.hosted import assets, live_routes
from idproof.hosted.countries import country_options
from idproof.hosted.flow import Page, final_outcome, shown_reasons
from idproof.hosted.i18n import CONSENT_VERSION
from idproof.hosted.pages import (
    COOKIE,
    browser_of,
    cookie_of,
    headers,
    message,
    nosession,
    origin_ok,
    read_upload,
    render,
    service,
    set_cookie,
    translator,
    upload_reason,
)
from idproof.hosted.service import Browser, FlowState, HostedService
from idproof.web.deps import client_ip, request_id
from idproof.web.forms import InMemoryFormRoute

__all__ = ["COOKIE", "router"]

# Multipart bodies (documents, selfies, frames) are parsed in memory, never spooled to disk.
router = APIRouter(include_in_schema=False, route_class=InMemoryFormRoute)
router.include_router(assets.router)
router.include_router(live_routes.router)


# -- the flow ---------------------------------------------------------------------------------
def _page(request: Request, svc: HostedService, browser: Browser, cookie: str,
          state: FlowState, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    page = state.page
    t = translator(request, state.locale)
    policy = state.workflow.document
    countries = country_options(t.locale, tuple(policy.types),
                                tuple(sorted(policy.countries)) if policy.countries else None)
    callback = None
    if page.name in {"done", "ended"} and state.callback_url:
        sep = "&" if "?" in state.callback_url else "?"
        callback = state.callback_url + sep + urlencode(
            {"session_id": state.view.id, "status": state.view.status})
    outcome = None
    reason = None
    reasons: list[tuple[str, str]] = []
    if page.name == "done":
        outcome, code = final_outcome(state.view.status, state.reasons)
        reason = t.reason(code)
        # Every reason, each with what the person can do about it, not only the first.
        reasons = [(t.reason(c), t.advice(c)) for c in shown_reasons(state.reasons)]
    retry = None
    if page.retry_reason is not None or (page.attempt and page.name in
                                         {"document", "selfie", "liveness"}):
        retry = t("retry.notice", reason=t.reason(page.retry_reason), n=page.attempt + 1,
                  max=state.workflow.max_attempts)
    template = {"consent": "consent.html", "document": "document.html",
                "selfie": "selfie.html", "liveness": "liveness.html",
                "waiting": "waiting.html", "submit": "waiting.html",
                "done": "done.html", "ended": "message.html"}[page.name]
    extra: dict[str, Any] = {}
    if page.name == "ended":
        extra = {"heading": "ended.heading", "text": "ended.text"}
    return render(
        request, template, status=status, locale=state.locale, origins=state.origins,
        page=page, session_id=state.view.id, session_status=state.view.status,
        processing=any(st.state == "processing" for st in state.view.steps),
        csrf=svc.csrf_token(cookie), origins_attr=" ".join(state.origins),
        consent_version=CONSENT_VERSION, doc_types=policy.types,
        back_types=policy.back_required_for, countries=countries,
        chosen_type=browser.document_type, error=error, retry=retry, outcome=outcome,
        reason=reason, reasons=reasons, callback=callback, **extra)


@router.get("/verify/s")
async def flow(request: Request) -> Response:
    found = await run_in_threadpool(browser_of, request)
    if found is None:
        return nosession(request)
    svc, browser, cookie = found
    actor = svc.actor(browser, client_ip(request), request_id(request))
    state = await run_in_threadpool(svc.advance, browser, actor)
    return _page(request, svc, browser, cookie, state)


async def _post_guard(request: Request, token: str | None
                      ) -> tuple[HostedService, Browser, str] | Response:
    found = await run_in_threadpool(browser_of, request)
    if found is None:
        return nosession(request)
    svc, browser, cookie = found
    if not origin_ok(request) or not svc.check_csrf(cookie, token):
        await run_in_threadpool(svc.record_csrf_failure, browser, client_ip(request),
                                request_id(request))
        origins = await run_in_threadpool(svc.origins, browser)
        return render(request, "message.html", status=403, origins=origins,
                       heading="error.heading", text="csrf.text")
    return found


async def _back_to_flow(svc: HostedService, browser: Browser) -> RedirectResponse:
    # A framed flow (SDK modal/embed) needs the client's frame-ancestors on redirects too.
    origins = await run_in_threadpool(svc.origins, browser)
    return RedirectResponse("/verify/s", status_code=303, headers=headers(origins))


async def _step_error(request: Request, svc: HostedService, browser: Browser, cookie: str,
                      exc: IdproofError, key: str | None = None) -> HTMLResponse:
    state = await run_in_threadpool(svc.state, browser)
    t = translator(request, state.locale)
    if key is None:
        key = upload_reason(exc)
    text = t("upload.rejected", reason=t(key)) if key.startswith("upload.") else t(key)
    return _page(request, svc, browser, cookie, state, error=text,
                 status=exc.status if exc.status >= 400 else 400)


@router.post("/verify/s/consent")
async def consent(request: Request,
                  csrf_token: Annotated[str | None, Form()] = None,
                  agree: Annotated[str | None, Form()] = None,
                  version: Annotated[str | None, Form(max_length=32)] = None) -> Response:
    guarded = await _post_guard(request, csrf_token)
    if isinstance(guarded, Response):
        return guarded
    svc, browser, cookie = guarded
    if agree != "yes":
        state = await run_in_threadpool(svc.state, browser)
        t = translator(request, state.locale)
        return _page(request, svc, browser, cookie, state, error=t("consent.required"),
                     status=422)
    state = await run_in_threadpool(svc.state, browser)
    locale = translator(request, state.locale).locale
    actor = svc.actor(browser, client_ip(request), request_id(request))
    try:
        await run_in_threadpool(svc.give_consent, browser, actor, locale=locale,
                                version=version or "")
    except IdproofError as exc:
        return await _step_error(request, svc, browser, cookie, exc, "error.heading")
    return await _back_to_flow(svc, browser)


@router.post("/verify/s/cancel")
async def cancel(request: Request,
                 csrf_token: Annotated[str | None, Form()] = None,
                 confirm: Annotated[str | None, Form(max_length=8)] = None,
                 via: Annotated[str | None, Form(max_length=8)] = None) -> Response:
    guarded = await _post_guard(request, csrf_token)
    if isinstance(guarded, Response):
        return guarded
    svc, browser, cookie = guarded
    state = await run_in_threadpool(svc.state, browser)
    if confirm != "yes":
        # One click never cancels: the person confirms on a page of its own (the SDK's close
        # button and Escape land here too), or goes back to where they were.
        if state.page.name not in {"consent", "document", "selfie", "liveness"}:
            return await _back_to_flow(svc, browser)
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
    guarded = await _post_guard(request, csrf_token)
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
            return await _back_to_flow(svc, browser)
        return await _step_error(request, svc, browser, cookie, exc, key)
    return await _back_to_flow(svc, browser)


@router.post("/verify/s/selfie")
async def selfie(request: Request,
                 csrf_token: Annotated[str | None, Form()] = None,
                 file: Annotated[UploadFile | None, File()] = None) -> Response:
    guarded = await _post_guard(request, csrf_token)
    if isinstance(guarded, Response):
        return guarded
    svc, browser, cookie = guarded
    data = await read_upload(file)
    actor = svc.actor(browser, client_ip(request), request_id(request))
    try:
        await run_in_threadpool(svc.submit_selfie, browser, actor, data)
    except IdproofError as exc:
        if exc.code == "consent_required":
            return await _back_to_flow(svc, browser)
        key = {"image_missing": "upload.missing",
               "biometrics_unavailable": "error.heading"}.get(exc.code)
        return await _step_error(request, svc, browser, cookie, exc, key)
    return await _back_to_flow(svc, browser)


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
        if peeked.outcome == "invalid":
            return message(request, "invalid", status=404)
        if peeked.outcome != "ok":
            return message(request, peeked.outcome, status=410, origins=peeked.origins)
        return render(request, "handoff.html", origins=peeked.origins, page=Page("handoff"),
                       link_path=f"/verify/{link}", origins_attr=" ".join(peeked.origins))
    opened = await run_in_threadpool(
        lambda: svc.open_link(link, cookie=cookie_of(request), ip=client_ip(request),
                              request_id=request_id(request)))
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
    response = _page(request, svc, browser, cookie, state)
    if opened.cookie is not None:
        set_cookie(request, response, opened.cookie, browser)
    return response

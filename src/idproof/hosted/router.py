"""Routes of the hosted flow (`/verify/...`) and the web SDK (`/sdk/idproof.js`).

Pages are rendered on the server (Jinja2, autoescaped) with one small script from our own
origin, under a CSP without inline script. Every POST carries the CSRF token bound to the
browser session; the cookie is HttpOnly, SameSite=Strict, and Secure behind TLS.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from idproof.core.errors import Forbidden, IdproofError, Unauthorized, ValidationFailed
from idproof.hosted.countries import country_options
from idproof.hosted.flow import Page, final_outcome, shown_reasons
from idproof.hosted.i18n import CONSENT_VERSION, Translator, negotiate
from idproof.hosted.service import Browser, FlowState, HostedService
from idproof.security.uploads import MAX_BYTES
from idproof.web.deps import client_ip, get_container, request_id
from idproof.web.forms import InMemoryFormRoute

COOKIE = "idproof_hosted"
COOKIE_PATH = "/verify"
MAX_FRAMES = 40
ASSETS = {"hosted.js": "application/javascript; charset=utf-8",
          "hosted.css": "text/css; charset=utf-8"}

# Multipart bodies (documents, selfies, frames) are parsed in memory, never spooled to disk.
router = APIRouter(include_in_schema=False, route_class=InMemoryFormRoute)
_env = Environment(loader=PackageLoader("idproof.hosted", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)


def _service(request: Request) -> HostedService:
    return get_container(request).hosted


def _csp(origins: tuple[str, ...] = ()) -> str:
    ancestors = " ".join(origins) if origins else "'none'"
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: "
            "data:; media-src 'self' blob: mediastream:; connect-src 'self'; form-action "
            f"'self'; base-uri 'none'; frame-ancestors {ancestors}")


def _headers(origins: tuple[str, ...] = ()) -> dict[str, str]:
    # same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on our own
    # form posts, and the Origin check below needs the real one. Nothing leaks off-site.
    return {"Content-Security-Policy": _csp(origins), "Cache-Control": "no-store",
            "Referrer-Policy": "same-origin",
            "Permissions-Policy": "camera=(self), microphone=(), geolocation=()"}


def _secure(request: Request) -> bool:
    return get_container(request).settings.public_url.startswith("https://")


def _public_origin(request: Request) -> str:
    parts = urlsplit(get_container(request).settings.public_url)
    return f"{parts.scheme}://{parts.netloc}"


def _translator(request: Request, locale: str | None) -> Translator:
    return Translator(negotiate(locale, request.headers.get("accept-language")))


def _render(request: Request, template: str, *, status: int = 200, locale: str | None = None,
            origins: tuple[str, ...] = (), **context: Any) -> HTMLResponse:
    t = _translator(request, locale)
    html = _env.get_template(template).render(t=t, lang=t.locale, **context)
    return HTMLResponse(html, status_code=status, headers=_headers(origins))


def _message(request: Request, key: str, *, status: int, heading: str | None = None,
             locale: str | None = None, origins: tuple[str, ...] = ()) -> HTMLResponse:
    # The SDK learns why with onError: code `used`, `ended`, `invalid` or `nosession` (sent
    # only where the page knows the client's origins).
    return _render(request, "message.html", status=status, locale=locale, origins=origins,
                   heading=heading or f"{key}.heading", text=f"{key}.text",
                   event=f"error:{key}", origins_attr=" ".join(origins))


def _cookie(request: Request) -> str | None:
    return request.cookies.get(COOKIE)


def _browser(request: Request) -> tuple[HostedService, Browser, str] | None:
    svc = _service(request)
    cookie = _cookie(request)
    browser = svc.resolve(cookie)
    if browser is None or cookie is None:
        return None
    return svc, browser, cookie


def _origin_ok(request: Request) -> bool:
    """A POST's Origin, when the browser sends one, must be ours (defence in depth)."""
    origin = request.headers.get("origin")
    return origin is None or origin == _public_origin(request)


def _upload_reason(exc: IdproofError) -> str:
    if exc.status == 413:
        return "upload.too_large"
    if exc.status == 415:
        return "upload.type"
    return "upload.corrupt"


async def _read(file: UploadFile | None) -> bytes:
    if file is None:
        return b""
    # One byte past the limit is enough to refuse it as too large.
    return await file.read(MAX_BYTES + 1)


# -- the SDK and the page assets -------------------------------------------------------------
@router.get("/sdk/idproof.js")
def sdk() -> Response:
    body = (resources.files("idproof.hosted") / "static" / "idproof.js").read_bytes()
    return Response(body, media_type="application/javascript; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=300",
                             "Cross-Origin-Resource-Policy": "cross-origin"})


@router.get("/verify/assets/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        return Response(status_code=404)
    body = (resources.files("idproof.hosted") / "static" / name).read_bytes()
    return Response(body, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


# -- the flow ---------------------------------------------------------------------------------
def _page(request: Request, svc: HostedService, browser: Browser, cookie: str,
          state: FlowState, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    page = state.page
    t = _translator(request, state.locale)
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
    return _render(
        request, template, status=status, locale=state.locale, origins=state.origins,
        page=page, session_id=state.view.id, session_status=state.view.status,
        processing=any(st.state == "processing" for st in state.view.steps),
        csrf=svc.csrf_token(cookie), origins_attr=" ".join(state.origins),
        consent_version=CONSENT_VERSION, doc_types=policy.types,
        back_types=policy.back_required_for, countries=countries,
        chosen_type=browser.document_type, error=error, retry=retry, outcome=outcome,
        reason=reason, reasons=reasons, callback=callback, **extra)


def _nosession(request: Request) -> HTMLResponse:
    return _message(request, "nosession", status=401)


@router.get("/verify/s")
async def flow(request: Request) -> Response:
    found = await run_in_threadpool(_browser, request)
    if found is None:
        return _nosession(request)
    svc, browser, cookie = found
    actor = svc.actor(browser, client_ip(request), request_id(request))
    state = await run_in_threadpool(svc.advance, browser, actor)
    return _page(request, svc, browser, cookie, state)


@router.get("/verify/s/status")
async def status(request: Request) -> JSONResponse:
    found = await run_in_threadpool(_browser, request)
    if found is None:
        raise Unauthorized("open the verification link again", code="hosted_session_required")
    svc, browser, _cookie_value = found
    actor = svc.actor(browser, client_ip(request), request_id(request))
    state = await run_in_threadpool(svc.advance, browser, actor)
    processing = any(st.state == "processing" for st in state.view.steps)
    return JSONResponse({"session_id": state.view.id, "status": state.view.status,
                         "page": state.page.name, "processing": processing},
                        headers={"Cache-Control": "no-store"})


async def _post_guard(request: Request, token: str | None
                      ) -> tuple[HostedService, Browser, str] | Response:
    found = await run_in_threadpool(_browser, request)
    if found is None:
        return _nosession(request)
    svc, browser, cookie = found
    if not _origin_ok(request) or not svc.check_csrf(cookie, token):
        await run_in_threadpool(svc.record_csrf_failure, browser, client_ip(request),
                                request_id(request))
        origins = await run_in_threadpool(svc.origins, browser)
        return _render(request, "message.html", status=403, origins=origins,
                       heading="error.heading", text="csrf.text")
    return found


async def _back_to_flow(svc: HostedService, browser: Browser) -> RedirectResponse:
    # A framed flow (SDK modal/embed) needs the client's frame-ancestors on redirects too.
    origins = await run_in_threadpool(svc.origins, browser)
    return RedirectResponse("/verify/s", status_code=303, headers=_headers(origins))


async def _step_error(request: Request, svc: HostedService, browser: Browser, cookie: str,
                      exc: IdproofError, key: str | None = None) -> HTMLResponse:
    state = await run_in_threadpool(svc.state, browser)
    t = _translator(request, state.locale)
    if key is None:
        key = _upload_reason(exc)
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
        t = _translator(request, state.locale)
        return _page(request, svc, browser, cookie, state, error=t("consent.required"),
                     status=422)
    state = await run_in_threadpool(svc.state, browser)
    locale = _translator(request, state.locale).locale
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
        return _render(request, "cancel.html", locale=state.locale, origins=state.origins,
                       page=Page("cancel"), csrf=svc.csrf_token(cookie),
                       session_id=browser.session_id, session_status=state.view.status,
                       via="sdk" if via == "sdk" else "page",
                       origins_attr=" ".join(state.origins))
    actor = svc.actor(browser, client_ip(request), request_id(request))
    await run_in_threadpool(svc.cancel, browser, actor,
                            via="sdk" if via == "sdk" else "page")
    state = await run_in_threadpool(svc.state, browser)
    return _render(request, "message.html", locale=state.locale, origins=state.origins,
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
    front_data, back_data = await _read(front), await _read(back)
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
    data = await _read(file)
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


def _json_guard(request: Request, token: str | None) -> tuple[HostedService, Browser, str]:
    found = _browser(request)
    if found is None:
        raise Unauthorized("open the verification link again", code="hosted_session_required")
    svc, browser, cookie = found
    if not _origin_ok(request) or not svc.check_csrf(cookie, token):
        svc.record_csrf_failure(browser, client_ip(request), request_id(request))
        raise Forbidden("the CSRF token is missing or wrong", code="csrf_failed")
    return found


@router.post("/verify/s/challenge")
async def challenge(request: Request,
                    x_csrf_token: Annotated[str | None, Header()] = None) -> JSONResponse:
    svc, browser, _cookie_value = await run_in_threadpool(_json_guard, request, x_csrf_token)
    actor = svc.actor(browser, client_ip(request), request_id(request))
    view = await run_in_threadpool(svc.issue_challenge, browser, actor)
    expires = getattr(view, "expires_at", None)
    return JSONResponse({"challenge_id": view.challenge_id, "actions": list(view.actions),
                         "expires_at": expires.isoformat() if expires else None},
                        headers={"Cache-Control": "no-store"})


@router.post("/verify/s/liveness")
async def liveness(request: Request,
                   challenge_id: Annotated[str, Form(max_length=64)],
                   timestamps: Annotated[str, Form(max_length=2000)],
                   frames: Annotated[list[UploadFile], File()],
                   x_csrf_token: Annotated[str | None, Header()] = None) -> JSONResponse:
    svc, browser, _cookie_value = await run_in_threadpool(_json_guard, request, x_csrf_token)
    if not 1 <= len(frames) <= MAX_FRAMES:
        raise ValidationFailed(f"send 1 to {MAX_FRAMES} frames", code="invalid_frames")
    try:
        stamps = [int(x) for x in json.loads(timestamps)]
    except (ValueError, TypeError):
        raise ValidationFailed("timestamps must be a JSON list of integers",
                               code="invalid_timestamps") from None
    data = [await f.read(MAX_BYTES + 1) for f in frames]
    actor = svc.actor(browser, client_ip(request), request_id(request))
    await run_in_threadpool(svc.submit_liveness, browser, actor, challenge_id, data, stamps)
    state = await run_in_threadpool(svc.advance, browser, actor)
    return JSONResponse({"session_id": state.view.id, "status": state.view.status,
                         "page": state.page.name}, headers={"Cache-Control": "no-store"})


# -- the link ---------------------------------------------------------------------------------
def _cross_site_frame(request: Request) -> bool:
    """Opened in a frame of another site: there the browser never sends our SameSite=Strict
    cookie (and blocks third-party cookies), so the flow cannot go on inside the frame."""
    return (request.headers.get("sec-fetch-dest") == "iframe"
            and request.headers.get("sec-fetch-site") == "cross-site")


@router.get("/verify/{link}")
async def open_link(request: Request, link: str) -> Response:
    svc = _service(request)
    if _cross_site_frame(request):
        # Hand off to a top-level window (the link stays unused until it opens there).
        peeked = await run_in_threadpool(svc.peek_link, link)
        if peeked.outcome == "invalid":
            return _message(request, "invalid", status=404)
        if peeked.outcome != "ok":
            return _message(request, peeked.outcome, status=410, origins=peeked.origins)
        return _render(request, "handoff.html", origins=peeked.origins, page=Page("handoff"),
                       link_path=f"/verify/{link}", origins_attr=" ".join(peeked.origins))
    opened = await run_in_threadpool(
        lambda: svc.open_link(link, cookie=_cookie(request), ip=client_ip(request),
                              request_id=request_id(request)))
    if opened.outcome == "invalid":
        return _message(request, "invalid", status=404)
    if opened.outcome in {"used", "ended"}:
        return _message(request, opened.outcome, status=410, origins=opened.origins)
    # Render the flow right here rather than redirecting: a SameSite=Strict cookie set on a
    # navigation that came from another site is not sent on a redirect within that chain.
    cookie = opened.cookie or _cookie(request)
    assert cookie is not None
    browser = await run_in_threadpool(svc.resolve, cookie)
    if browser is None:  # pragma: no cover - just created or just checked
        return _nosession(request)
    actor = svc.actor(browser, client_ip(request), request_id(request))
    state = await run_in_threadpool(svc.advance, browser, actor)
    response = _page(request, svc, browser, cookie, state)
    if opened.cookie is not None:
        max_age = int((browser.expires_at - get_container(request).clock.now())
                      .total_seconds())
        response.set_cookie(COOKIE, opened.cookie, max_age=max(max_age, 1), path=COOKIE_PATH,
                            httponly=True, samesite="strict", secure=_secure(request))
    return response

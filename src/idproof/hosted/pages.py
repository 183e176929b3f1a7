"""Rendering and request helpers shared by the hosted routers (templates, headers, cookie)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, get_container, request_id
from idproof.core.errors import IdproofError
from idproof.hosted.i18n import Translator, negotiate
from idproof.hosted.service import Browser, HostedService
from idproof.security.uploads import MAX_BYTES

COOKIE = "idproof_hosted"
COOKIE_PATH = "/verify"

_env = Environment(loader=PackageLoader("idproof.hosted", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)


def service(request: Request) -> HostedService:
    return get_container(request).hosted


def csp(origins: tuple[str, ...] = ()) -> str:
    ancestors = " ".join(origins) if origins else "'none'"
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: "
            "data:; media-src 'self' blob: mediastream:; connect-src 'self'; form-action "
            f"'self'; base-uri 'none'; frame-ancestors {ancestors}")


def headers(origins: tuple[str, ...] = ()) -> dict[str, str]:
    # same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on our own
    # form posts, and the Origin check below needs the real one. Nothing leaks off-site.
    return {"Content-Security-Policy": csp(origins), "Cache-Control": "no-store",
            "Referrer-Policy": "same-origin",
            "Permissions-Policy": "camera=(self), microphone=(), geolocation=()"}


def secure(request: Request) -> bool:
    return get_container(request).settings.public_url.startswith("https://")


def public_origin(request: Request) -> str:
    parts = urlsplit(get_container(request).settings.public_url)
    return f"{parts.scheme}://{parts.netloc}"


def translator(request: Request, locale: str | None) -> Translator:
    return Translator(negotiate(locale, request.headers.get("accept-language")))


def render(request: Request, template: str, *, status: int = 200, locale: str | None = None,
           origins: tuple[str, ...] = (), **context: Any) -> HTMLResponse:
    t = translator(request, locale)
    html = _env.get_template(template).render(t=t, lang=t.locale, **context)
    return HTMLResponse(html, status_code=status, headers=headers(origins))


def message(request: Request, key: str, *, status: int, heading: str | None = None,
            locale: str | None = None, origins: tuple[str, ...] = (),
            **context: Any) -> HTMLResponse:
    # The SDK learns why with onError: code `used`, `ended`, `invalid` or `nosession` (sent
    # only where the page knows the client's origins).
    return render(request, "message.html", status=status, locale=locale, origins=origins,
                  heading=heading or f"{key}.heading", text=f"{key}.text",
                  event=f"error:{key}", origins_attr=" ".join(origins), **context)


def cookie_of(request: Request) -> str | None:
    return request.cookies.get(COOKIE)


def browser_of(request: Request) -> tuple[HostedService, Browser, str] | None:
    svc = service(request)
    cookie = cookie_of(request)
    browser = svc.resolve(cookie)
    if browser is None or cookie is None:
        return None
    return svc, browser, cookie


def origin_ok(request: Request) -> bool:
    """A POST's Origin, when the browser sends one, must be ours (defence in depth)."""
    origin = request.headers.get("origin")
    return origin is None or origin == public_origin(request)


def upload_reason(exc: IdproofError) -> str:
    if exc.status == 413:
        return "upload.too_large"
    if exc.status == 415:
        return "upload.type"
    return "upload.corrupt"


async def read_upload(file: UploadFile | None) -> bytes:
    if file is None:
        return b""
    # One byte past the limit is enough to refuse it as too large.
    return await file.read(MAX_BYTES + 1)


def nosession(request: Request) -> HTMLResponse:
    return message(request, "nosession", status=401)


def set_cookie(request: Request, response: Any, value: str, browser: Browser) -> None:
    """The browser session's cookie: HttpOnly, SameSite=Strict, Secure behind TLS, scoped to
    /verify, ending with the browser session."""
    max_age = int((browser.expires_at - get_container(request).clock.now()).total_seconds())
    response.set_cookie(COOKIE, value, max_age=max(max_age, 1), path=COOKIE_PATH,
                        httponly=True, samesite="strict", secure=secure(request))


async def post_guard(request: Request, token: str | None
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
    if await run_in_threadpool(svc.handoffs.watching, browser.id):
        # Another device took over: this one follows, it does not capture or cancel.
        origins = await run_in_threadpool(svc.origins, browser)
        return render(request, "message.html", status=409, origins=origins,
                      heading="watch.heading", text="watch.moved")
    return found


async def back_to_flow(svc: HostedService, browser: Browser) -> RedirectResponse:
    # A framed flow (SDK modal/embed) needs the client's frame-ancestors on redirects too.
    origins = await run_in_threadpool(svc.origins, browser)
    return RedirectResponse("/verify/s", status_code=303, headers=headers(origins))

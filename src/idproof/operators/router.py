"""The console pages under `/console` (server-rendered, strict CSP, CSRF on every POST).

Every route is declared through `route(...)`, which records its policy in `ROUTE_POLICIES`:
either an `Action` checked with `can()` for a signed-in operator (`signed_in(action)`), or one
of the sign-in stages (`PUBLIC`, `STAGE_MFA`, `STAGE_ENROLLING`). A test walks the app's
routes and fails on a console route without one. This module holds the sign-in pages; the
enrolment, account and single sign-on pages register themselves on the same router when
imported at its end.
"""

from __future__ import annotations

import hmac
from importlib import resources
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from idproof.operators.sessions import Live
from idproof.operators.web import (
    ASSETS,
    HEADERS,
    PUBLIC,
    ROUTE_POLICIES,
    STAGE_ENROLLING,
    STAGE_MFA,
    ConsoleExit,
    _clear_cookie,
    _csrf,
    _csrf_for,
    _csrf_ok,
    _live,
    _name,
    _pre_page,
    _set_cookie,
    _start,
    _svc,
    _who,
    at_stage,
    message,
    render,
    route,
    router,
    signed_in,
)

__all__ = ["HEADERS", "PUBLIC", "ROUTE_POLICIES", "STAGE_ENROLLING", "STAGE_MFA", "ConsoleExit",
           "_csrf", "_who", "message", "render", "route", "router", "signed_in"]


# -- assets -----------------------------------------------------------------------------------
@route("GET", "/console/assets/{name}", PUBLIC)
def asset(name: str) -> Response:
    if name not in ASSETS:
        return Response(status_code=404)
    body = (resources.files("idproof.operators") / "static" / name).read_bytes()
    return Response(body, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


# -- sign-in ----------------------------------------------------------------------------------
@route("GET", "/console/login", PUBLIC)
async def login_page(request: Request) -> Response:
    live = await _live(request)
    if live is not None and live.stage == "full":
        return RedirectResponse("/console/", status_code=303, headers=HEADERS)
    return _pre_page(request, "login.html")


def _login_error(request: Request, text: str, status: int) -> HTMLResponse:
    return _pre_page(request, "login.html", status=status, error=text)


@route("POST", "/console/login", PUBLIC)
async def login(request: Request, email: Annotated[str, Form(max_length=320)] = "",
                password: Annotated[str, Form(max_length=1024)] = "",
                csrf_token: Annotated[str | None, Form()] = None) -> Response:
    if not _csrf_ok(request, "pre", request.cookies.get(_name(request, "idproof_console_pre")),
                    csrf_token):
        await run_in_threadpool(_svc(request).csrf_failure, None, _who(request),
                                request.url.path)
        return _login_error(request, "The form has expired. Please sign in again.", 403)
    result = await run_in_threadpool(_svc(request).login, email, password, _who(request))
    response: Response
    if result.outcome == "ok" and result.cookie:
        response = RedirectResponse("/console/mfa", status_code=303, headers=HEADERS)
        return _start(request, response, result.cookie)
    if result.outcome in {"slowed", "locked"}:
        response = _login_error(
            request, f"Too many failed sign-ins. Try again in {result.retry_after} seconds.",
            429)
        response.headers["Retry-After"] = str(result.retry_after)
        return response
    if result.outcome == "enrolment_required":
        return _login_error(request, "Your account is not set up yet: finish enrolment "
                                     "with the link you were sent.", 403)
    return _login_error(request, "The email or password is not right.", 401)


@route("GET", "/console/mfa", STAGE_MFA)
def mfa_page(request: Request, live: Annotated[Live, Depends(at_stage("mfa"))]) -> Response:
    return render("mfa.html", csrf=_csrf(request), action="/console/mfa",
                  passkey_options="/console/mfa/passkey/options",
                  passkey_action="/console/mfa/passkey")


@route("POST", "/console/mfa", STAGE_MFA)
def mfa(request: Request, live: Annotated[Live, Depends(at_stage("mfa"))],
        code: Annotated[str, Form(max_length=64)] = "") -> Response:
    cookie = _svc(request).verify_code(live, code, _who(request))
    if cookie is None:
        return render("mfa.html", status=401, csrf=_csrf(request), action="/console/mfa",
                      passkey_options="/console/mfa/passkey/options",
                      passkey_action="/console/mfa/passkey",
                      error="That code is not right, or was used already.")
    return _start(request, RedirectResponse("/console/", status_code=303, headers=HEADERS),
                  cookie)


@route("POST", "/console/mfa/passkey/options", STAGE_MFA)
def mfa_passkey_options(request: Request,
                        live: Annotated[Live, Depends(at_stage("mfa"))]) -> Response:
    options, _ = _svc(request).passkey_assertion_options(live)
    return Response(options, media_type="application/json", headers=HEADERS)


@route("POST", "/console/mfa/passkey", STAGE_MFA)
def mfa_passkey(request: Request, live: Annotated[Live, Depends(at_stage("mfa"))],
                credential: Annotated[str, Form(max_length=16384)] = "") -> Response:
    svc = _svc(request)
    challenge = (live.challenge or "")
    svc.sessions.set_challenge(live.session_id, None)
    cookie = (svc.passkey_assert(credential, challenge[5:], _who(request), live=live)
              if challenge.startswith("auth:") else None)
    if cookie is None:
        return render("mfa.html", status=401, csrf=_csrf(request), action="/console/mfa",
                      passkey_options="/console/mfa/passkey/options",
                      passkey_action="/console/mfa/passkey",
                      error="The passkey could not be verified.")
    return _start(request, RedirectResponse("/console/", status_code=303, headers=HEADERS),
                  cookie)


def _challenge_mac(request: Request, pre: str, challenge: str) -> str:
    return _csrf_for(request, "wa", f"{pre}/{challenge}")


@route("POST", "/console/login/passkey/options", PUBLIC)
async def login_passkey_options(request: Request) -> Response:
    pre = request.cookies.get(_name(request, "idproof_console_pre"))
    if not _csrf_ok(request, "pre", pre, request.headers.get("x-csrf-token")):
        return JSONResponse({"code": "csrf_failed"}, status_code=403, headers=HEADERS)
    options, challenge = await run_in_threadpool(_svc(request).passkey_assertion_options, None)
    response = Response(options, media_type="application/json", headers=HEADERS)
    assert pre is not None
    _set_cookie(request, response, "idproof_console_wa",
                f"{challenge}.{_challenge_mac(request, pre, challenge)}", max_age=300)
    return response


@route("POST", "/console/login/passkey", PUBLIC)
async def login_passkey(request: Request,
                        credential: Annotated[str, Form(max_length=16384)] = "",
                        csrf_token: Annotated[str | None, Form()] = None) -> Response:
    pre = request.cookies.get(_name(request, "idproof_console_pre"))
    if not _csrf_ok(request, "pre", pre, csrf_token) or pre is None:
        await run_in_threadpool(_svc(request).csrf_failure, None, _who(request),
                                request.url.path)
        return _login_error(request, "The form has expired. Please sign in again.", 403)
    raw = request.cookies.get(_name(request, "idproof_console_wa"), "")
    challenge, _, mac = raw.partition(".")
    cookie = None
    if challenge and hmac.compare_digest(mac, _challenge_mac(request, pre, challenge)):
        cookie = await run_in_threadpool(_svc(request).passkey_assert, credential, challenge,
                                         _who(request), live=None)
    response: Response
    if cookie is None:
        response = _login_error(request, "The passkey could not be verified.", 401)
    else:
        response = _start(request, RedirectResponse("/console/", status_code=303,
                                                    headers=HEADERS), cookie)
    _clear_cookie(request, response, "idproof_console_wa")
    return response


# Registers the remaining console pages on `router` (after the names above exist).
from idproof.operators import (  # noqa: E402, F401
    account_pages,
    enroll_pages,
    sso_pages,
    step_up_pages,
)

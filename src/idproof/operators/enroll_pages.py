"""Console enrolment pages: the link's password step, then a first second factor."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, cast

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from idproof.core.errors import IdproofError
from idproof.operators.sessions import Live
from idproof.operators.web import (
    HEADERS,
    PUBLIC,
    STAGE_ENROLLING,
    _csrf,
    _csrf_ok,
    _name,
    _pre_page,
    _qr,
    _start,
    _svc,
    _who,
    at_stage,
    message,
    render,
    route,
)

# -- enrolment --------------------------------------------------------------------------------
_ENROLL_STATES = {
    "used": ("This link was used already", "Ask an administrator for a new enrolment link.",
             410),
    "expired": ("This link has expired", "Ask an administrator for a new enrolment link.",
                410),
    "invalid": ("This link is not valid", "Check the link, or ask for a new one.", 404),
}


def _enroll_mfa_page(request: Request, live: Live, *, status: int = 200,
                     error: str | None = None) -> HTMLResponse:
    svc = _svc(request)
    pending = svc.pending_totp(live)
    if pending is None:
        pending = svc.totp_setup(live)
    secret, uri = pending
    return render("enroll_mfa.html", status=status, csrf=_csrf(request), uri=uri,
                  secret=secret, qr=_qr(uri), error=error, action="/console/enroll/mfa",
                  passkey_options="/console/enroll/passkey/options",
                  passkey_action="/console/enroll/passkey")


@route("GET", "/console/enroll/mfa", STAGE_ENROLLING)
def enroll_mfa_page(request: Request,
                    live: Annotated[Live, Depends(at_stage("enrolling"))]) -> Response:
    return _enroll_mfa_page(request, live)


@route("POST", "/console/enroll/mfa", STAGE_ENROLLING)
def enroll_mfa(request: Request, live: Annotated[Live, Depends(at_stage("enrolling"))],
               code: Annotated[str, Form(max_length=64)] = "") -> Response:
    done = _svc(request).totp_confirm(live, code, _who(request))
    if done is None:
        return _enroll_mfa_page(request, live, status=422,
                                error="That code is not right. Enter the current code.")
    return _start(request, render("recovery_codes.html", codes=done.recovery_codes),
                  done.cookie)


@route("POST", "/console/enroll/passkey/options", STAGE_ENROLLING)
def enroll_passkey_options(request: Request,
                           live: Annotated[Live, Depends(at_stage("enrolling"))]) -> Response:
    return Response(_svc(request).passkey_registration_options(live),
                    media_type="application/json", headers=HEADERS)


@route("POST", "/console/enroll/passkey", STAGE_ENROLLING)
def enroll_passkey(request: Request, live: Annotated[Live, Depends(at_stage("enrolling"))],
                   credential: Annotated[str, Form(max_length=16384)] = "") -> Response:
    done = _svc(request).passkey_register(live, credential, _who(request))
    if done is None:
        return _enroll_mfa_page(request, live, status=422,
                                error="The passkey could not be registered. Try again.")
    return _start(request, render("recovery_codes.html", codes=done.recovery_codes),
                  done.cookie)


@route("GET", "/console/enroll/{token}", PUBLIC)
def enroll_page(request: Request, token: str) -> Response:
    state = _svc(request).enrollment_state(token)
    if state != "ok":
        heading, text, status = _ENROLL_STATES[state]
        return message(heading, text, status=status)
    return _pre_page(request, "enroll_password.html", action=f"/console/enroll/{token}")


@route("POST", "/console/enroll/{token}", PUBLIC)
def enroll(request: Request, token: str,
           password: Annotated[str, Form(max_length=1024)] = "",
           password_confirm: Annotated[str, Form(max_length=1024)] = "",
           csrf_token: Annotated[str | None, Form()] = None) -> Response:
    svc = _svc(request)
    pre = request.cookies.get(_name(request, "idproof_console_pre"))
    if not _csrf_ok(request, "pre", pre, csrf_token):
        svc.csrf_failure(None, _who(request), "/console/enroll")
        return message("The form has expired", "Open your enrolment link again.", status=403)
    try:
        cookie = svc.set_password(token, password, password_confirm, _who(request))
    except IdproofError as exc:
        if exc.code.startswith("enrollment_"):
            heading, text, status = _ENROLL_STATES[exc.code.removeprefix("enrollment_")]
            return message(heading, text, status=status)
        # ConsoleService.set_password puts the list of problem codes there.
        problems = cast("Iterable[object]", exc.extra.get("problems", [exc.code]))
        return _pre_page(request, "enroll_password.html", status=422,
                         action=f"/console/enroll/{token}",
                         errors=[_PASSWORD_TEXT.get(str(p), str(p)) for p in problems])
    return _start(request, RedirectResponse("/console/enroll/mfa", status_code=303,
                                            headers=HEADERS), cookie)


_PASSWORD_TEXT = {
    "password_mismatch": "The two passwords are not the same.",
    "password_too_short": "Use at least 12 characters.",
    "password_too_long": "Use at most 256 characters.",
    "password_common": "This password is too common (it appears in lists of breached "
                       "passwords). Choose another one.",
}

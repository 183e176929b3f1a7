"""Step-up: the second factor asked again (code or passkey) before a sensitive action."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from idproof.operators.oidc import OidcError
from idproof.operators.policy import Action
from idproof.operators.sessions import Live
from idproof.operators.step_up import safe_next
from idproof.operators.web import (
    HEADERS,
    _check_post,
    _csrf,
    _https,
    _live,
    _name,
    _session_cookie,
    _start,
    _svc,
    _to_login,
    _who,
    message,
    render,
    route,
)


async def _step_up_live(request: Request) -> Live:
    live = await _live(request)
    if live is None or live.stage != "full":
        raise _to_login()
    await _check_post(request, "s", _session_cookie(request), live.operator_id)
    return live


def _page(request: Request, nxt: str, *, status: int = 200, error: str | None = None
          ) -> HTMLResponse:
    sso = _svc(request).sso
    return render("mfa.html", status=status, csrf=_csrf(request), action="/console/step-up",
                  step_up=True, next=nxt, error=error,
                  sso_step_up=(f"/console/step-up/oidc?{urlencode({'next': nxt})}"
                               if sso is not None else None),
                  passkey_options="/console/step-up/passkey/options",
                  passkey_action="/console/step-up/passkey")


def _done(request: Request, cookie: str, nxt: str) -> Response:
    return _start(request, RedirectResponse(safe_next(nxt), status_code=303, headers=HEADERS),
                  cookie)


@route("GET", "/console/step-up", Action.CONSOLE_VIEW)
def step_up_page(request: Request, live: Annotated[Live, Depends(_step_up_live)],
                 next: str = "") -> Response:
    return _page(request, safe_next(next[:512]))


@route("POST", "/console/step-up", Action.CONSOLE_VIEW)
def step_up(request: Request, live: Annotated[Live, Depends(_step_up_live)],
            code: Annotated[str, Form(max_length=64)] = "",
            next: Annotated[str, Form(max_length=512)] = "") -> Response:
    cookie = _svc(request).verify_code(live, code, _who(request), purpose="step_up")
    if cookie is None:
        return _page(request, safe_next(next), status=401,
                     error="That code is not right, or was used already.")
    return _done(request, cookie, next)


@route("POST", "/console/step-up/passkey/options", Action.CONSOLE_VIEW)
def step_up_passkey_options(request: Request,
                            live: Annotated[Live, Depends(_step_up_live)]) -> Response:
    options, _ = _svc(request).passkey_assertion_options(live)
    return Response(options, media_type="application/json", headers=HEADERS)


@route("POST", "/console/step-up/passkey", Action.CONSOLE_VIEW)
def step_up_passkey(request: Request, live: Annotated[Live, Depends(_step_up_live)],
                    credential: Annotated[str, Form(max_length=16384)] = "",
                    next: Annotated[str, Form(max_length=512)] = "") -> Response:
    svc = _svc(request)
    challenge = live.challenge or ""
    svc.sessions.set_challenge(live.session_id, None)  # one assertion per challenge
    cookie = (svc.passkey_assert(credential, challenge[5:], _who(request), live=live,
                                 purpose="step_up")
              if challenge.startswith("auth:") else None)
    if cookie is None:
        return _page(request, safe_next(next), status=401,
                     error="The passkey could not be verified.")
    return _done(request, cookie, next)


@route("GET", "/console/step-up/oidc", Action.CONSOLE_VIEW)
async def step_up_sso(request: Request, live: Annotated[Live, Depends(_step_up_live)],
                      next: str = "") -> Response:
    """Step-up at the identity provider (prompt=login, max_age=0) for this session."""
    sso = _svc(request).sso
    if sso is None:
        return message("Single sign-on is not set up", "Use your code or passkey.",
                       status=404, link="/console/step-up", link_text="Back")
    try:
        url, sealed = await run_in_threadpool(sso.start, live, safe_next(next[:512]))
    except OidcError as exc:
        return message("Single sign-on failed", f"(code: {exc.code})", status=exc.status)
    response = RedirectResponse(url, status_code=303, headers=HEADERS)
    response.set_cookie(_name(request, "idproof_console_oidc"), sealed, max_age=600, path="/",
                        secure=_https(request), httponly=True, samesite="lax")
    return response

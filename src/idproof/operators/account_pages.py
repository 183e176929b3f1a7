"""Console pages of a signed-in operator's own account: home, factors, sessions, step-up."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from idproof.operators.policy import Action
from idproof.operators.sessions import Live
from idproof.operators.web import (
    HEADERS,
    _clear_cookie,
    _csrf,
    _qr,
    _start,
    _svc,
    _who,
    render,
    route,
    signed_in,
)


# -- signed in --------------------------------------------------------------------------------
@route("GET", "/console/", Action.CONSOLE_VIEW)
def home(request: Request,
         live: Annotated[Live, Depends(signed_in(Action.CONSOLE_VIEW))]) -> Response:
    return render("home.html", csrf=_csrf(request), role=live.role, operator_id=live.operator_id)


@route("GET", "/console/account", Action.ACCOUNT_MANAGE)
def account(request: Request,
            live: Annotated[Live, Depends(signed_in(Action.ACCOUNT_MANAGE))]) -> Response:
    return _account_page(request, live)


def _account_page(request: Request, live: Live, *, codes: list[str] | None = None,
                  notice: str | None = None, error: str | None = None,
                  status: int = 200) -> HTMLResponse:
    svc = _svc(request)
    op, passkeys, remaining = svc.account(live.operator_id)
    sessions = svc.sessions.active(live.operator_id)
    return render("account.html", status=status, csrf=_csrf(request), role=op.role,
                  has_totp=op.totp_secret is not None, passkeys=passkeys,
                  remaining_codes=remaining, sessions=sessions, current=live.session_id,
                  codes=codes, notice=notice, error=error)


@route("POST", "/console/account/recovery-codes", Action.ACCOUNT_MANAGE)
def regenerate_codes(request: Request,
                     live: Annotated[Live, Depends(signed_in(Action.ACCOUNT_MANAGE))]
                     ) -> Response:
    codes = _svc(request).regenerate_recovery_codes(live, _who(request))
    return _account_page(request, live, codes=codes)


@route("POST", "/console/account/factors/remove", Action.ACCOUNT_MANAGE)
def remove_factor(request: Request,
                  live: Annotated[Live, Depends(signed_in(Action.ACCOUNT_MANAGE))],
                  factor: Annotated[str, Form(max_length=64)] = "") -> Response:
    if not _svc(request).remove_factor(live, factor, _who(request)):
        return _account_page(request, live, status=409,
                             error="That factor cannot be removed: keep at least one.")
    return _account_page(request, live, notice="The factor was removed.")


@route("POST", "/console/account/passkeys/options", Action.ACCOUNT_MANAGE)
def account_passkey_options(request: Request,
                            live: Annotated[Live, Depends(signed_in(Action.ACCOUNT_MANAGE))]
                            ) -> Response:
    return Response(_svc(request).passkey_registration_options(live),
                    media_type="application/json", headers=HEADERS)


@route("POST", "/console/account/passkeys", Action.ACCOUNT_MANAGE)
def account_passkey_add(request: Request,
                        live: Annotated[Live, Depends(signed_in(Action.ACCOUNT_MANAGE))],
                        credential: Annotated[str, Form(max_length=16384)] = "") -> Response:
    done = _svc(request).passkey_register(live, credential, _who(request))
    if done is None:
        return _account_page(request, live, status=422,
                             error="The passkey could not be registered.")
    response = RedirectResponse("/console/account", status_code=303, headers=HEADERS)
    return _start(request, response, done.cookie)


@route("GET", "/console/account/totp", Action.ACCOUNT_MANAGE)
def account_totp_page(request: Request,
                      live: Annotated[Live, Depends(signed_in(Action.ACCOUNT_MANAGE))]
                      ) -> Response:
    secret, uri = _svc(request).totp_setup(live)
    return render("account_totp.html", csrf=_csrf(request), uri=uri, secret=secret,
                  qr=_qr(uri))


@route("POST", "/console/account/totp", Action.ACCOUNT_MANAGE)
def account_totp(request: Request,
                 live: Annotated[Live, Depends(signed_in(Action.ACCOUNT_MANAGE))],
                 code: Annotated[str, Form(max_length=64)] = "") -> Response:
    done = _svc(request).totp_confirm(live, code, _who(request))
    if done is None:
        pending = _svc(request).pending_totp(live)
        if pending is None:
            return RedirectResponse("/console/account/totp", status_code=303, headers=HEADERS)
        return render("account_totp.html", status=422, csrf=_csrf(request), uri=pending[1],
                      secret=pending[0], qr=_qr(pending[1]), error="That code is not right.")
    response = RedirectResponse("/console/account", status_code=303, headers=HEADERS)
    return _start(request, response, done.cookie)


@route("POST", "/console/account/sign-out-everywhere", Action.ACCOUNT_MANAGE)
def sign_out_everywhere(request: Request,
                        live: Annotated[Live, Depends(signed_in(Action.ACCOUNT_MANAGE))]
                        ) -> Response:
    _svc(request).sign_out(live, _who(request), everywhere=True)
    response = RedirectResponse("/console/login", status_code=303, headers=HEADERS)
    _clear_cookie(request, response, "idproof_console")
    return response


@route("POST", "/console/logout", Action.CONSOLE_VIEW)
def logout(request: Request,
           live: Annotated[Live, Depends(signed_in(Action.CONSOLE_VIEW))]) -> Response:
    _svc(request).sign_out(live, _who(request))
    response = RedirectResponse("/console/login", status_code=303, headers=HEADERS)
    _clear_cookie(request, response, "idproof_console")
    return response

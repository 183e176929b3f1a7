"""The console pages under `/console` (server-rendered, strict CSP, CSRF on every POST).

Every route is declared through `route(...)`, which records its policy in `ROUTE_POLICIES`:
either an `Action` checked with `can()` for a signed-in operator (`signed_in(action)`), or one
of the sign-in stages (`PUBLIC`, `STAGE_MFA`, `STAGE_ENROLLING`). A test walks the app's
routes and fails on a console route without one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Annotated, Any, cast
from urllib.parse import urlsplit

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from idproof.core.errors import IdproofError
from idproof.core.ids import random_token
from idproof.operators.console import ConsoleService, Who, context
from idproof.operators.policy import Action, Resource, can
from idproof.operators.sessions import Live
from idproof.web.deps import client_ip, get_container, request_id

PUBLIC = "public"
STAGE_MFA = "stage:mfa"
STAGE_ENROLLING = "stage:enrolling"
ROUTE_POLICIES: dict[tuple[str, str], str] = {}
ASSETS = {"console.css": "text/css; charset=utf-8",
          "console.js": "application/javascript; charset=utf-8"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store",
           "Referrer-Policy": "same-origin"}

router = APIRouter(include_in_schema=False)
_env = Environment(loader=PackageLoader("idproof.operators", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)


def route(method: str, path: str, policy: str | Action) -> Callable[[Any], Any]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        ROUTE_POLICIES[(method, path)] = str(policy)
        router.add_api_route(path, fn, methods=[method])
        return fn
    return deco


# -- plumbing ---------------------------------------------------------------------------------
def _svc(request: Request) -> ConsoleService:
    return get_container(request).console


def _https(request: Request) -> bool:
    return bool(get_container(request).settings.public_url.startswith("https://"))


def _name(request: Request, base: str) -> str:
    return f"__Host-{base}" if _https(request) else base


def _who(request: Request) -> Who:
    return Who(client_ip(request), request_id(request))


def _csrf_key(request: Request) -> bytes:
    return _svc(request).csrf_key


def _csrf_for(request: Request, kind: str, value: str) -> str:
    return hmac.new(_csrf_key(request), f"{kind}/{value}".encode(), hashlib.sha256).hexdigest()


def _csrf_ok(request: Request, kind: str, value: str | None, token: str | None) -> bool:
    if not value or not token:
        return False
    origin = request.headers.get("origin")
    if origin is not None:
        parts = urlsplit(get_container(request).settings.public_url)
        if origin != f"{parts.scheme}://{parts.netloc}":
            return False
    return hmac.compare_digest(_csrf_for(request, kind, value), token)


def _set_cookie(request: Request, response: Response, base: str, value: str,
                max_age: int | None = None) -> None:
    response.set_cookie(_name(request, base), value, max_age=max_age, path="/",
                        secure=_https(request), httponly=True, samesite="strict")


def _clear_cookie(request: Request, response: Response, base: str) -> None:
    response.delete_cookie(_name(request, base), path="/", secure=_https(request),
                           httponly=True, samesite="strict")


def render(template: str, *, status: int = 200, **ctx: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**ctx)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def message(heading: str, text: str, *, status: int, link: str | None = None,
            link_text: str | None = None) -> HTMLResponse:
    return render("message.html", status=status, heading=heading, text=text, link=link,
                  link_text=link_text)


def _pre_cookie(request: Request) -> tuple[str, bool]:
    value = request.cookies.get(_name(request, "idproof_console_pre"))
    if value and 20 <= len(value) <= 64:
        return value, False
    return random_token(24), True


def _pre_page(request: Request, template: str, *, status: int = 200, **ctx: Any
              ) -> HTMLResponse:
    pre, new = _pre_cookie(request)
    response = render(template, status=status, csrf=_csrf_for(request, "pre", pre), **ctx)
    if new:
        _set_cookie(request, response, "idproof_console_pre", pre)
    return response


def _session_cookie(request: Request) -> str | None:
    return request.cookies.get(_name(request, "idproof_console"))


async def _live(request: Request) -> Live | None:
    return await run_in_threadpool(_svc(request).sessions.resolve, _session_cookie(request))


def _start(request: Request, response: Response, cookie: str) -> Response:
    _set_cookie(request, response, "idproof_console", cookie)
    return response


class ConsoleExit(Exception):
    """Ends a console request early with a ready response (sign-in needed, refusal, CSRF)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _to_login() -> ConsoleExit:
    return ConsoleExit(RedirectResponse("/console/login", status_code=303, headers=HEADERS))


def _csrf_refused() -> ConsoleExit:
    return ConsoleExit(message("The form has expired",
                               "Reload the page and submit the form again.", status=403,
                               link="/console/", link_text="Back to the console"))


async def _check_post(request: Request, kind: str, value: str | None,
                      operator_id: str | None) -> None:
    if request.method != "POST":
        return
    form = await request.form()
    token = form.get("csrf_token") or request.headers.get("x-csrf-token")
    if not _csrf_ok(request, kind, value, token if isinstance(token, str) else None):
        await run_in_threadpool(_svc(request).csrf_failure, operator_id, _who(request),
                                request.url.path)
        raise _csrf_refused()


def signed_in(action: Action) -> Callable[..., Any]:
    """Dependency: a fully signed-in operator allowed `action` by `can()`, CSRF-checked."""

    async def dependency(request: Request) -> Live:
        live = await _live(request)
        if live is None or live.stage != "full":
            raise _to_login()
        await _check_post(request, "s", _session_cookie(request), live.operator_id)
        svc = _svc(request)
        decision = can(context(live, svc.now()), action,
                       Resource(owner_id=live.operator_id)
                       if action is Action.ACCOUNT_MANAGE else None)
        if not decision.allowed:
            if decision.step_up:
                raise ConsoleExit(RedirectResponse("/console/step-up", status_code=303,
                                                   headers=HEADERS))
            await run_in_threadpool(svc.refused, live, action.value, decision.reason,
                                    _who(request), request.url.path)
            raise ConsoleExit(message("Not allowed" if decision.status != 404 else
                                      "Not found", "You cannot open this page.",
                                      status=decision.status if decision.status >= 400
                                      else 403, link="/console/", link_text="Console home"))
        return live

    return dependency


def at_stage(stage: str) -> Callable[..., Any]:
    """Dependency: a session in a sign-in stage (`mfa` or `enrolling`), CSRF-checked."""

    async def dependency(request: Request) -> Live:
        live = await _live(request)
        if live is None or live.stage != stage:
            if live is not None and live.stage == "full":
                raise ConsoleExit(RedirectResponse("/console/", status_code=303,
                                                   headers=HEADERS))
            raise _to_login()
        await _check_post(request, "s", _session_cookie(request), live.operator_id)
        return live

    return dependency


def _csrf(request: Request) -> str:
    return _csrf_for(request, "s", _session_cookie(request) or "")


def _qr(uri: str) -> str:
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


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


async def _step_up_live(request: Request) -> Live:
    live = await _live(request)
    if live is None or live.stage != "full":
        raise _to_login()
    await _check_post(request, "s", _session_cookie(request), live.operator_id)
    return live


@route("GET", "/console/step-up", Action.CONSOLE_VIEW)
def step_up_page(request: Request, live: Annotated[Live, Depends(_step_up_live)]) -> Response:
    return render("mfa.html", csrf=_csrf(request), action="/console/step-up", step_up=True)


@route("POST", "/console/step-up", Action.CONSOLE_VIEW)
def step_up(request: Request, live: Annotated[Live, Depends(_step_up_live)],
            code: Annotated[str, Form(max_length=64)] = "") -> Response:
    cookie = _svc(request).verify_code(live, code, _who(request), purpose="step_up")
    if cookie is None:
        return render("mfa.html", status=401, csrf=_csrf(request), action="/console/step-up",
                      step_up=True, error="That code is not right, or was used already.")
    return _start(request, RedirectResponse("/console/", status_code=303, headers=HEADERS),
                  cookie)

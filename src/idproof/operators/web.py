"""Console plumbing: the route table with policies, cookies, CSRF, rendering, sign-in guards."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, get_container, request_id
from idproof.core.ids import random_token
from idproof.operators.console import ConsoleService, Who, context
from idproof.operators.policy import Action, Resource, can
from idproof.operators.sessions import Live

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
    sso = _svc(request).sso
    response = render(template, status=status, csrf=_csrf_for(request, "pre", pre),
                      sso_label=sso.label if sso is not None else None, **ctx)
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

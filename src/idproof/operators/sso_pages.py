"""Console single sign-on pages: the redirect to the identity provider and its callback."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from idproof.operators.oidc import OidcError
from idproof.operators.step_up import safe_next
from idproof.operators.web import (
    HEADERS,
    PUBLIC,
    _https,
    _name,
    _start,
    _svc,
    _who,
    message,
    render,
    route,
)

_COOKIE = "idproof_console_oidc"
_NEXT = {"full": "/console/", "mfa": "/console/mfa", "enrolling": "/console/enroll/mfa"}
_TEXT = {
    "oidc_state_mismatch": "This sign-in was not started here, or was finished already.",
    "oidc_state_expired": "This sign-in took too long.",
    "oidc_code_rejected": "The identity provider did not confirm this sign-in.",
    "oidc_no_role": "Your account at the identity provider is in no group that has access.",
    "oidc_operator_disabled": "This account is disabled.",
    "oidc_email_unverified": "The identity provider did not confirm your email address.",
    "oidc_provider_unavailable": "The identity provider cannot be reached. Try again later.",
    "oidc_wrong_account": "You signed in at the identity provider as someone else.",
    "oidc_mfa_required": "The identity provider did not use a second factor.",
}


def _not_configured() -> Response:
    return message("Single sign-on is not set up", "Sign in with your email and password.",
                   status=404, link="/console/login", link_text="Sign in")


@route("GET", "/console/login/oidc", PUBLIC)
async def sso_start(request: Request) -> Response:
    sso = _svc(request).sso
    if sso is None:
        return _not_configured()
    try:
        url, sealed = await run_in_threadpool(sso.start)
    except OidcError as exc:
        return _refused(exc)
    response = RedirectResponse(url, status_code=303, headers=HEADERS)
    # Lax, not Strict: the provider sends the browser back with a cross-site navigation.
    response.set_cookie(_name(request, _COOKIE), sealed, max_age=600, path="/",
                        secure=_https(request), httponly=True, samesite="lax")
    return response


def _refused(exc: OidcError) -> Response:
    text = _TEXT.get(exc.code, "The identity provider's answer could not be accepted.")
    return message("Single sign-on failed", f"{text} (code: {exc.code})",
                   status=exc.status, link="/console/login", link_text="Back to sign-in")


@route("GET", "/console/login/oidc/callback", PUBLIC)
async def sso_callback(request: Request) -> Response:
    sso = _svc(request).sso
    if sso is None:
        return _not_configured()
    params = {k: v[:4096] for k in ("state", "code", "error", "iss")
              if (v := request.query_params.get(k)) is not None}
    response: Response
    try:
        result = await run_in_threadpool(sso.finish, request.cookies.get(
            _name(request, _COOKIE)), params, _who(request))
    except OidcError as exc:
        response = _refused(exc)
    else:
        # A page, not a redirect: the SameSite=Strict session cookie is sent only on a
        # navigation that starts on this site, and this request started at the provider.
        response = _start(request, render(
            "sso_done.html", next=safe_next(result.next) if result.next else _NEXT[result.stage],
            heading="Signed in with single sign-on",
            link_text="Continue"), result.cookie)
    response.delete_cookie(_name(request, _COOKIE), path="/", secure=_https(request),
                           httponly=True, samesite="lax")
    return response

"""Routes of the hosted pages without a camera: the e-mail and phone codes (send, resend,
confirm) and the questionnaire. Same guards as every hosted POST: the browser session's
cookie, its CSRF token, our Origin; the person's consent first."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, request_id
from idproof.core.errors import IdproofError
from idproof.hosted.flow_page import flow_page
from idproof.hosted.i18n import Translator
from idproof.hosted.pages import back_to_flow, post_guard, translator
from idproof.hosted.service import Browser, HostedService
from idproof.hosted.steps import form_answers

router = APIRouter(include_in_schema=False)
Channel = Literal["email", "phone"]
MAX_FIELDS = 64  # a questionnaire has at most 30 questions, plus the CSRF token

# A refused send or check -> the message the page shows (never the address or the code).
_MESSAGES = {"invalid_email": "contact.invalid_email", "invalid_phone": "contact.invalid_phone",
             "phone_not_mobile": "contact.not_mobile", "otp_resend_too_soon": "contact.too_soon",
             "otp_send_limit": "contact.send_limit", "otp_wrong": "contact.wrong",
             "otp_expired": "contact.expired", "otp_not_sent": "contact.not_sent",
             "otp_too_many_attempts": "contact.expired"}
# Nothing the person can fix on this page: the flow page that fits the session now.
_BACK = {"consent_required", "step_finished", "already_submitted", "step_not_in_workflow",
         "otp_already_verified", "otp_replayed"}


def _message(t: Translator, exc: IdproofError) -> str:
    key = _MESSAGES.get(exc.code, "contact.unavailable")
    if exc.code == "otp_wrong":
        return t(key, n=exc.extra.get("attempts_left", 0))
    if exc.code == "otp_resend_too_soon":
        return t(key, seconds=exc.headers.get("Retry-After", "30"))
    return t(key)


async def _run(request: Request, token: str | None, work: Any, *args: Any) -> Response:
    """Guard the POST, run `work(svc, browser, actor, *args)`, then the flow page again: the
    next step on success, this one with its message on a refusal."""
    guarded = await post_guard(request, token)
    if isinstance(guarded, Response):
        return guarded
    svc, browser, cookie = guarded
    actor = svc.actor(browser, client_ip(request), request_id(request))
    try:
        if not await run_in_threadpool(svc.consented, browser.session_id):
            return await back_to_flow(svc, browser)
        await run_in_threadpool(work, svc, browser, actor, *args)
    except IdproofError as exc:
        if exc.code in _BACK:
            return await back_to_flow(svc, browser)
        state = await run_in_threadpool(svc.state, browser)
        t = translator(request, state.locale)
        extra: dict[str, Any] = {}
        if exc.code == "invalid_answers":
            text = t("questionnaire.invalid")
            problems = exc.extra.get("problems")
            extra = {"problems": set(problems) if isinstance(problems, dict) else set(),
                     "values": args[0]}
        else:
            text = _message(t, exc)
        status = exc.status if exc.status >= 400 else 400
        return await flow_page(request, svc, browser, cookie, state, error=text,
                               status=status, **extra)
    return await back_to_flow(svc, browser)


def _send(svc: HostedService, browser: Browser, actor: Any, step: str, value: str) -> None:
    svc.steps.send(actor, browser.session_id, step, value)


def _resend(svc: HostedService, browser: Browser, actor: Any, step: str) -> None:
    svc.steps.resend(actor, browser.session_id, step)


def _confirm(svc: HostedService, browser: Browser, actor: Any, step: str, code: str) -> None:
    svc.steps.confirm(actor, browser.session_id, step, code)


def _answer(svc: HostedService, browser: Browser, actor: Any, answers: dict[str, Any]
            ) -> None:
    svc.steps.answer(actor, browser.session_id, answers)


@router.post("/verify/s/{step}/send")
async def send(request: Request, step: Channel,
               csrf_token: Annotated[str | None, Form()] = None,
               value: Annotated[str, Form(max_length=254)] = "") -> Response:
    return await _run(request, csrf_token, _send, step, value.strip())


@router.post("/verify/s/{step}/resend")
async def resend(request: Request, step: Channel,
                 csrf_token: Annotated[str | None, Form()] = None) -> Response:
    return await _run(request, csrf_token, _resend, step)


@router.post("/verify/s/{step}/confirm")
async def confirm(request: Request, step: Channel,
                  csrf_token: Annotated[str | None, Form()] = None,
                  code: Annotated[str, Form(max_length=12)] = "") -> Response:
    return await _run(request, csrf_token, _confirm, step, code.strip())


@router.post("/verify/s/questionnaire")
async def questionnaire(request: Request) -> Response:
    form = await request.form(max_fields=MAX_FIELDS, max_files=0)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    token = fields.pop("csrf_token", None)
    guarded = await post_guard(request, token)
    if isinstance(guarded, Response):
        return guarded
    svc, browser, _ = guarded
    questions = await run_in_threadpool(svc.steps.questions, browser.tenant_id,
                                        browser.session_id)
    return await _run(request, token, _answer, form_answers(questions, fields))

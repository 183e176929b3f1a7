"""Consent withdrawal from the hosted pages: a question first, then the privacy service's
withdrawal (open sessions cancelled, data erased as the tenant's policy and the law allow)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, request_id
from idproof.hosted.flow import Page
from idproof.hosted.pages import browser_of, nosession, post_guard, render

router = APIRouter(include_in_schema=False)


@router.get("/verify/s/withdraw")
async def withdraw_question(request: Request) -> Response:
    found = await run_in_threadpool(browser_of, request)
    if found is None:
        return nosession(request)
    svc, browser, cookie = found
    state = await run_in_threadpool(svc.state, browser)
    brand = await run_in_threadpool(svc.branding.get, browser.tenant_id)
    return render(request, "withdraw.html", locale=state.locale, origins=state.origins,
                  page=Page("withdraw"), csrf=svc.csrf_token(cookie), brand=brand,
                  session_id=state.view.id, session_status=state.view.status,
                  origins_attr=" ".join(state.origins))


@router.post("/verify/s/withdraw")
async def withdraw(request: Request, csrf_token: Annotated[str | None, Form()] = None,
                   confirm: Annotated[str | None, Form(max_length=8)] = None) -> Response:
    guarded = await post_guard(request, csrf_token)
    if isinstance(guarded, Response):
        return guarded
    svc, browser, _cookie = guarded
    if confirm != "yes":
        return await withdraw_question(request)
    state = await run_in_threadpool(svc.state, browser)
    brand = await run_in_threadpool(svc.branding.get, browser.tenant_id)
    actor = svc.actor(browser, client_ip(request), request_id(request))
    await run_in_threadpool(svc.withdraw_consent, browser, actor)
    return render(request, "message.html", locale=state.locale, origins=state.origins,
                  heading="withdrawn.heading", text="withdrawn.text", event="cancel",
                  brand=brand, session_id=browser.session_id, session_status="cancelled",
                  origins_attr=" ".join(state.origins))

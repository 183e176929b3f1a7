"""The page of the flow the session is at, rendered with everything its template needs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from idproof.hosted.branding import BrandView
from idproof.hosted.countries import country_options
from idproof.hosted.flow import CAPTURE_PAGES, Page, final_outcome, shown_reasons
from idproof.hosted.i18n import CONSENT_VERSION, Translator
from idproof.hosted.pages import render, translator
from idproof.hosted.service import Browser, FlowState, HostedService

TEMPLATES = {"consent": "consent.html", "document": "document.html", "selfie": "selfie.html",
             "liveness": "liveness.html", "waiting": "waiting.html", "submit": "waiting.html",
             "done": "done.html", "ended": "message.html", "email": "contact.html",
             "phone": "contact.html", "questionnaire": "questionnaire.html"}


def _callback(state: FlowState) -> str | None:
    if state.page.name not in {"done", "ended"} or not state.callback_url:
        return None
    sep = "&" if "?" in state.callback_url else "?"
    return state.callback_url + sep + urlencode(
        {"session_id": state.view.id, "status": state.view.status})


def _outcome(t: Translator, state: FlowState) -> dict[str, Any]:
    if state.page.name != "done":
        return {"outcome": None, "reason": None, "reasons": []}
    outcome, code = final_outcome(state.view.status, state.reasons)
    # Every reason, each with what the person can do about it, not only the first.
    return {"outcome": outcome, "reason": t.reason(code),
            "reasons": [(t.reason(c), t.advice(c)) for c in shown_reasons(state.reasons)]}


def _retry(t: Translator, state: FlowState) -> tuple[str | None, str | None]:
    """The notice of a retake and what to do differently (never a score: a reason code's
    plain text and its advice)."""
    page = state.page
    if page.retry_reason is None and not (page.attempt and page.name in CAPTURE_PAGES):
        return None, None
    notice = t("retry.notice", reason=t.reason(page.retry_reason), n=page.attempt + 1,
               max=state.workflow.max_attempts)
    return notice, (t.advice(page.retry_reason) if page.retry_reason else None)


def _tenant_bits(svc: HostedService, tenant_id: str, locale: str, consent: bool
                 ) -> tuple[BrandView | None, tuple[str, str] | None]:
    """The tenant's branding, and on the consent page its consent text (database reads)."""
    return (svc.branding.get(tenant_id),
            svc.privacy.consent_text(tenant_id, locale) if consent else None)


def _form_bits(svc: HostedService, browser: Browser, name: str) -> dict[str, Any]:
    """An e-mail or phone page: whether a code was sent and the resend wait; the
    questionnaire: its questions."""
    if name in {"email", "phone"}:
        return {"code": svc.steps.status(browser.session_id, name)}
    if name == "questionnaire":
        return {"questions": svc.steps.questions(browser.tenant_id, browser.session_id)}
    return {}


async def flow_page(request: Request, svc: HostedService, browser: Browser, cookie: str,
              state: FlowState, *, error: str | None = None, status: int = 200,
              watching: bool = False, **form: Any) -> HTMLResponse:
    """`watching`: another device took over; until the end this browser only follows."""
    page = state.page
    t = translator(request, state.locale)
    policy, accepted = state.workflow.document, state.accepted
    # The workflow's document types and countries, narrowed to those the tenant accepts.
    doc_types = accepted.narrow_types(policy.types)
    countries = country_options(t.locale, doc_types, accepted.narrow_countries(policy.countries))
    template = TEMPLATES[page.name]
    current = page.name
    if watching and page.name not in {"done", "ended"}:
        template, page = "watch.html", Page("watch")
    extra: dict[str, Any] = {}
    if page.name == "ended":
        extra = {"heading": "ended.heading", "text": "ended.text"}
    retry, retry_advice = _retry(t, state)
    brand, tenant_text = await run_in_threadpool(_tenant_bits, svc, browser.tenant_id,
                                                 t.locale, page.name == "consent")
    extra.update(await run_in_threadpool(_form_bits, svc, browser, page.name))
    return render(
        request, template, status=status, locale=state.locale, origins=state.origins,
        page=page, session_id=state.view.id, session_status=state.view.status,
        processing=any(st.state == "processing" for st in state.view.steps),
        csrf=svc.csrf_token(cookie), origins_attr=" ".join(state.origins),
        consent_version=tenant_text[0] if tenant_text else CONSENT_VERSION,
        tenant_consent=tenant_text[1] if tenant_text else None, brand=brand,
        doc_types=doc_types, any_country=not accepted.countries,
        back_types=policy.back_required_for, countries=countries,
        chosen_type=browser.document_type, error=error, retry=retry,
        retry_advice=retry_advice, callback=_callback(state), watching=watching,
        current_step=current,
        **_outcome(t, state), **{**extra, **form})

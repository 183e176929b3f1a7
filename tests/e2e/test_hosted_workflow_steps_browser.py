"""A real browser through a workflow's e-mail step and questionnaire on the hosted pages:
the code arrives at a real local SMTP server (aiosmtpd), the person types it, answers the
questions, and the rules decide. Every page: no serious or critical axe violation, and the
page's CSP holds (no inline script runs)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from idproof.config import SmtpSettings
from tests.e2e.test_hosted_a11y import _serious
from tests.e2e.test_hosted_flow import CHROMIUM, Server
from tests.integration.test_workflow_delivery import _Inbox, smtp

__all__ = ["smtp"]  # the fixture used here
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FLOW: dict[str, Any] = {
    "title": "E-mail and questions", "minimum_age": 18, "max_attempts": 3,
    "document": {"types": ["passport"], "countries": None, "back_required_for": []},
    "flow": {"start": "mail", "nodes": {
        "mail": {"type": "email", "next": [{"to": "quiz"}]},
        "quiz": {"type": "questionnaire", "next": [{"to": "end"}], "questions": [
            {"id": "purpose", "type": "choice", "label": "Purpose of the account",
             "options": ["savings", "business"]},
            {"id": "city", "type": "text", "label": "City of residence"},
            {"id": "born", "type": "date", "label": "Date of birth"},
            {"id": "terms", "type": "checkbox", "label": "I accept the terms",
             "legal_text": "The terms of the service.", "legal_version": "2026-02"}]},
        "end": {"type": "end"}},
        "decision": [
            {"id": "business", "action": "review", "when": 'answers.purpose == "business"',
             "reasons": ["business_account"]},
            {"id": "ok", "action": "approve", "when": "email.verified && answers.terms"}]}}


@pytest.fixture
def server(tmp_path: Path, smtp: tuple[_Inbox, int]) -> Iterator[Server]:
    srv = Server(tmp_path, smtp=SmtpSettings(host="127.0.0.1", port=smtp[1],
                                             sender="verify@idproof.test"))
    yield srv
    srv.stop()


def _session(server: Server) -> tuple[str, str]:
    from idproof.verification.schemas import CreateSession
    from idproof.verification.service import Actor

    c = server.container
    c.workflows.create("demo", "mail_quiz", FLOW)
    c.workflows.publish("demo", "mail_quiz", 1)
    issued = c.clients.create("demo", "identity.verify")
    view, url, _ = c.sessions.create(
        Actor(tenant_id="demo", client_id=issued.client.id),
        CreateSession(workflow="mail_quiz", reference="e2e-mail"))
    return view.id, url


def test_an_email_step_and_a_questionnaire_to_the_decision(
        server: Server, smtp: tuple[_Inbox, int]) -> None:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    axe = Axe()
    sid, url = _session(server)
    found: dict[str, list[str]] = {}
    console: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.on("console", lambda m: console.append(m.text))

            def check(name: str) -> None:
                page.wait_for_selector("h1")
                found[name] = _serious(axe, page)

            page.goto(url)
            page.check("#agree")
            page.click("#consent-submit")
            page.wait_for_selector("#send-form")
            check("email address")
            page.get_by_label("E-mail address").fill("jane.doe@example.com")
            page.click("#send-submit")
            page.wait_for_selector("#confirm-form")
            check("email code")
            assert len(smtp[0].messages) == 1
            body = smtp[0].messages[0].get_payload(decode=True).decode()
            m = re.search(r"\b(\d{6})\b", body)
            assert m is not None
            page.get_by_label("6-digit code").fill("000000" if m.group(1) != "000000"
                                                   else "111111")
            page.click("#confirm-submit")
            page.wait_for_selector("#error")
            assert "Attempts left: 4." in page.inner_text("#error")
            check("email code, wrong")
            page.get_by_label("6-digit code").fill(m.group(1))
            page.click("#confirm-submit")
            page.wait_for_selector("#questionnaire-form")
            check("questionnaire")
            page.get_by_label("savings").check()
            page.get_by_label("City of residence").fill("Lyon")
            page.get_by_label("Date of birth").fill("1990-04-01")
            page.get_by_label("I accept the terms").check()
            page.click("#questionnaire-submit")
            page.wait_for_selector("body[data-page='done']")
            check("done")
        finally:
            browser.close()
    assert {k: v for k, v in found.items() if v} == {}
    assert not [c for c in console if "Content Security Policy" in c]
    decision = server.container.sessions.decision("demo", sid)
    assert decision.status == "approved", decision

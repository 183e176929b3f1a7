"""The hosted flow runs a graph's e-mail, phone and questionnaire steps on pages of its own:
codes by real SMTP and a real HTTP SMS gateway, CSRF on every POST, labelled inputs, the
rules reading the questionnaire's answers."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from idproof.verification.models import SessionStep
from tests.api.test_hosted import ORIGIN, consent, csrf_of
from tests.api.test_workflow_steps import ADDRESS, NUMBER, _code, settings
from tests.helpers import bearer, get_token
from tests.integration.test_workflow_delivery import _Gateway, _Inbox, gateway, smtp

__all__ = ["gateway", "settings", "smtp"]  # fixtures used by this module


def hosted_flow() -> dict[str, Any]:
    return {"title": "Hosted contact", "minimum_age": 18, "max_attempts": 3,
            "document": {"types": ["passport"], "countries": None, "back_required_for": []},
            "flow": {
                "start": "mail",
                "nodes": {
                    "mail": {"type": "email", "next": [{"to": "tel"}]},
                    "tel": {"type": "phone", "next": [{"to": "quiz"}]},
                    "quiz": {"type": "questionnaire", "next": [{"to": "end"}], "questions": [
                        {"id": "occupation", "type": "text", "label": "Your occupation"},
                        {"id": "pep", "type": "choice", "label": "Do you hold public office?",
                         "options": ["yes", "no"]},
                        {"id": "since", "type": "date", "label": "Customer since",
                         "required": False},
                        {"id": "terms", "type": "checkbox", "label": "I accept the terms",
                         "legal_text": "Terms of the service, first line.\nSecond line.",
                         "legal_version": "2026-01"}]},
                    "end": {"type": "end"}},
                "decision": [
                    {"id": "public_office", "action": "decline", "when": 'answers.pep == "yes"',
                     "reasons": ["pep_declined"]},
                    {"id": "confirmed", "action": "approve",
                     "when": "email.verified && phone.verified && answers.terms"}]}}


def _start(api: Any, make_client: Any) -> tuple[dict[str, str], str, str]:
    h = bearer(get_token(api, make_client(
        "demo", "identity.verify identity.read_status workflows.manage",
        allowed_origins=[ORIGIN])))
    r = api.post("/v1/workflows", json={"id": "hosted_contact", "definition": hosted_flow()},
                 headers=h)
    assert r.status_code == 201, r.text
    assert api.post("/v1/workflows/hosted_contact/versions/1/publish",
                    headers=h).status_code == 200
    r = api.post("/v1/sessions", json={"reference": "u1", "workflow": "hosted_contact"},
                 headers=h)
    assert r.status_code == 201, r.text
    sid, path = r.json()["id"], r.json()["url"].removeprefix("http://testserver")
    page = api.get(path)
    assert page.status_code == 200 and 'data-page="consent"' in page.text
    assert consent(api, page.text).status_code == 303
    return h, sid, api.get("/verify/s").text


def _post(api: Any, url: str, html: str, **data: str) -> Any:
    return api.post(url, data={"csrf_token": csrf_of(html), **data}, follow_redirects=False)


def _page(html: str) -> str:
    m = re.search(r'data-page="([a-z_]+)"', html)
    assert m is not None
    return m.group(1)


def test_email_phone_and_questionnaire_pages_to_the_decision(
        api: Any, make_client: Any, container: Any, smtp: tuple[_Inbox, int],
        gateway: tuple[type[_Gateway], str]) -> None:
    h, sid, html = _start(api, make_client)
    assert _page(html) == "email" and "Step 1 of 3" in html
    assert '<label for="value">E-mail address</label>' in html and 'type="email"' in html
    # Without the CSRF token nothing is sent.
    r = api.post("/verify/s/email/send", data={"value": ADDRESS}, follow_redirects=False)
    assert r.status_code == 403 and smtp[0].messages == []
    r = _post(api, "/verify/s/email/send", html, value="not-an-address")
    assert r.status_code == 422 and "This is not a valid e-mail address." in r.text
    assert smtp[0].messages == [] and 'aria-invalid="true"' in r.text
    r = _post(api, "/verify/s/email/send", html, value=ADDRESS)
    assert r.status_code == 303 and r.headers["location"] == "/verify/s"
    html = api.get("/verify/s").text
    assert _page(html) == "email" and 'id="code-sent"' in html and ADDRESS not in html
    assert 'autocomplete="one-time-code"' in html and 'id="resend-wait"' in html
    code = _code(smtp[0].messages[-1].get_payload(decode=True).decode())
    # A resend at once is refused with the wait; nothing sent twice.
    r = _post(api, "/verify/s/email/resend", html)
    assert r.status_code == 429 and "Please wait" in r.text and len(smtp[0].messages) == 1
    wrong = "000000" if code != "000000" else "111111"
    r = _post(api, "/verify/s/email/confirm", html, code=wrong)
    assert r.status_code == 422 and "Attempts left: 4." in r.text
    assert _post(api, "/verify/s/email/confirm", html, code=code).status_code == 303
    # The phone page, in German this time (the browser's language).
    html = api.get("/verify/s", headers={"accept-language": "de"}).text
    assert _page(html) == "phone" and "Ihre Mobilnummer" in html and 'type="tel"' in html
    r = _post(api, "/verify/s/phone/send", html, value="+49 30 901820")
    assert r.status_code == 422 and "mobile number" in r.text and gateway[0].received == []
    assert _post(api, "/verify/s/phone/send", html, value="+49 151 23456789").status_code == 303
    _auth, sent = gateway[0].received[-1]
    assert sent["to"] == NUMBER
    html = api.get("/verify/s").text
    assert _post(api, "/verify/s/phone/confirm", html,
                 code=_code(sent["text"])).status_code == 303
    # The questionnaire: every input labelled, the legal text with its version.
    html = api.get("/verify/s").text
    assert _page(html) == "questionnaire" and "Step 3 of 3" in html
    for field in ("q_occupation", "q_since", "q_terms", "q_pep-1", "q_pep-2"):
        assert f'<label for="{field}">' in html, field
    assert "<legend>Do you hold public office?</legend>" in html
    assert "Second line." in html and "Version 2026-01" in html
    r = _post(api, "/verify/s/questionnaire", html, q_occupation="Baker", q_pep="no")
    assert r.status_code == 422 and "Please check the answers marked below." in r.text
    assert 'id="q_terms-problem"' in r.text and 'id="q_occupation-problem"' not in r.text
    assert 'value="Baker"' in r.text  # what was typed stays on the page
    r = _post(api, "/verify/s/questionnaire", html, q_occupation="Baker", q_pep="no",
              q_since="", q_terms="yes")
    assert r.status_code == 303
    done = api.get("/verify/s").text
    assert _page(done) == "done"
    d = api.get(f"/v1/sessions/{sid}/decision", headers=h).json()
    assert d["status"] == "approved", d
    with container.db.read() as s:
        st = s.get(SessionStep, (sid, "questionnaire"))
        facts = dict(st.facts)
    # Only the answers the workflow defines are rule variables; typed words stay sealed.
    assert facts == {"answers": {"pep": "no", "terms": True}}


def test_the_rules_read_the_answers_and_decline(
        api: Any, make_client: Any, container: Any, smtp: tuple[_Inbox, int],
        gateway: tuple[type[_Gateway], str]) -> None:
    h, sid, html = _start(api, make_client)
    base = f"/v1/sessions/{sid}/steps"
    assert api.post(f"{base}/email", json={"address": ADDRESS}, headers=h).status_code == 200
    code = _code(smtp[0].messages[-1].get_payload(decode=True).decode())
    assert api.post(f"{base}/email/confirm", json={"code": code}, headers=h).status_code == 200
    assert api.post(f"{base}/phone", json={"number": NUMBER}, headers=h).status_code == 200
    code = _code(gateway[0].received[-1][1]["text"])
    assert api.post(f"{base}/phone/confirm", json={"code": code}, headers=h).status_code == 200
    html = api.get("/verify/s").text
    assert _page(html) == "questionnaire"
    r = _post(api, "/verify/s/questionnaire", html, q_occupation="Minister", q_pep="yes",
              q_terms="yes")
    assert r.status_code == 303
    assert _page(api.get("/verify/s").text) == "done"
    d = api.get(f"/v1/sessions/{sid}/decision", headers=h).json()
    assert d["status"] == "declined" and "pep_declined" in d["reasons"], d
    with container.db.read() as s:
        steps = s.scalars(select(SessionStep).where(SessionStep.session_id == sid)).all()
    assert "Minister" not in repr([st.facts for st in steps])

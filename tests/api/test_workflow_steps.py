"""E-mail, phone and questionnaire steps over HTTP: real SMTP, a real HTTP SMS gateway,
codes guessed, replayed and flooded, answers checked, the graph's rules deciding."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from idproof.config import Settings, SmsSettings, SmtpSettings
from idproof.workflows.models import SessionContact
from tests.conftest import TEST_SECRET
from tests.helpers import bearer, get_token
from tests.integration.test_workflow_delivery import _Gateway, _Inbox, gateway, smtp

__all__ = ["gateway", "smtp"]  # fixtures used by this module
ADDRESS = "jane.doe@example.com"
NUMBER = "+4915123456789"


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: tuple[_Inbox, int],
             gateway: tuple[type[_Gateway], str]) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=db_url, secret_key=TEST_SECRET,
                    public_url="http://testserver",
                    smtp=SmtpSettings(host="127.0.0.1", port=smtp[1],
                                      sender="verify@idproof.test"),
                    sms=SmsSettings(provider="http", url=gateway[1],
                                    token=SecretStr("gw-token"), sender="IDPROOF"))


def contact_flow() -> dict[str, Any]:
    return {"title": "Contact check", "minimum_age": 18, "max_attempts": 3,
            "document": {"types": ["passport"], "countries": None, "back_required_for": []},
            "flow": {
                "start": "mail",
                "nodes": {
                    "mail": {"type": "email", "next": [
                        {"to": "tel", "when": "!email.disposable"}, {"to": "manual"}]},
                    "tel": {"type": "phone", "next": [{"to": "quiz"}]},
                    "quiz": {"type": "questionnaire", "next": [{"to": "end"}], "questions": [
                        {"id": "occupation", "type": "text", "label": "Occupation"},
                        {"id": "terms", "type": "checkbox", "label": "I accept",
                         "legal_text": "Terms ...", "legal_version": "2026-01"}]},
                    "manual": {"type": "review", "reasons": ["disposable_email"]},
                    "end": {"type": "end"}},
                "decision": [
                    {"id": "failed", "action": "decline", "when": "!passed"},
                    {"id": "confirmed", "action": "approve",
                     "when": "email.verified && phone.done && phone.verified"}]}}


def _setup(api: Any, make_client: Any) -> tuple[dict[str, str], str]:
    c = make_client("demo", "identity.verify identity.read_status workflows.manage")
    h = bearer(get_token(api, c))
    r = api.post("/v1/workflows", json={"id": "contact", "definition": contact_flow()},
                 headers=h)
    assert r.status_code == 201, r.text
    r = api.post("/v1/workflows/contact/versions/1/publish", headers=h)
    assert r.status_code == 200, r.text
    r = api.post("/v1/sessions", json={"reference": "u1", "workflow": "contact"}, headers=h)
    assert r.status_code == 201, r.text
    assert [s["step"] for s in r.json()["steps"]] == ["email", "phone", "questionnaire"]
    return h, r.json()["id"]


def _code(text: str) -> str:
    m = re.search(r"\b(\d{6})\b", text)
    assert m is not None
    return m.group(1)


def test_a_session_through_email_phone_and_questionnaire(
        api: Any, make_client: Any, container: Any, smtp: tuple[_Inbox, int],
        gateway: tuple[type[_Gateway], str]) -> None:
    h, sid = _setup(api, make_client)
    base = f"/v1/sessions/{sid}/steps"
    r = api.post(f"{base}/email", json={"address": ADDRESS}, headers=h)
    assert r.status_code == 200, r.text
    assert ADDRESS not in r.text
    mail = smtp[0].messages[-1]
    assert mail["To"] == ADDRESS
    code = _code(mail.get_payload(decode=True).decode())
    # a flood of resends: refused with Retry-After, nothing sent twice
    r = api.post(f"{base}/email", json={"address": ADDRESS}, headers=h)
    assert r.status_code == 429 and r.json()["code"] == "otp_resend_too_soon"
    assert int(r.headers["Retry-After"]) > 0 and len(smtp[0].messages) == 1
    wrong = "000000" if code != "000000" else "111111"
    r = api.post(f"{base}/email/confirm", json={"code": wrong}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "otp_wrong"
    assert r.json()["attempts_left"] == 4 and r.headers["content-type"].startswith(
        "application/problem+json")
    r = api.post(f"{base}/email/confirm", json={"code": code}, headers=h)
    assert r.status_code == 200 and r.json()["state"] == "passed"
    r = api.post(f"{base}/email/confirm", json={"code": code}, headers=h)  # replay
    assert r.status_code == 409 and r.json()["code"] == "step_finished"
    # the phone: refused when not a mobile number, then a code through the gateway
    r = api.post(f"{base}/phone", json={"number": "+49 30 901820"}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "phone_not_mobile"
    assert "901820" not in r.text and gateway[0].received == []
    r = api.post(f"{base}/phone", json={"number": "+49 151 23456789"}, headers=h)
    assert r.status_code == 200, r.text
    auth, sent = gateway[0].received[-1]
    assert auth == "Bearer gw-token" and sent["to"] == NUMBER
    r = api.post(f"{base}/phone/confirm", json={"code": _code(sent["text"])}, headers=h)
    assert r.status_code == 200
    # the questionnaire: every problem named, then accepted
    r = api.post(f"{base}/questionnaire", json={"answers": {"terms": False, "x": "y"}},
                 headers=h)
    assert r.status_code == 422 and r.json()["code"] == "invalid_answers"
    assert r.json()["problems"] == {"occupation": "is required", "terms": "must be accepted",
                                    "x": "is not a question of this step"}
    r = api.post(f"{base}/questionnaire", json={"answers": {"occupation": "Baker",
                                                            "terms": True}}, headers=h)
    assert r.status_code == 200
    r = api.post(f"/v1/sessions/{sid}/submit", headers=h)
    assert r.status_code == 200, r.text
    d = api.get(f"/v1/sessions/{sid}/decision", headers=h).json()
    assert d["status"] == "approved", d
    with container.db.read() as s:
        rows = s.scalars(select(SessionContact).where(SessionContact.session_id == sid)).all()
    assert sorted(r.step for r in rows) == ["email", "phone", "questionnaire"]
    for row in rows:  # sealed: neither the address, the number nor an answer in clear
        assert b"jane" not in row.sealed_value and b"491512" not in row.sealed_value
        assert b"Baker" not in row.sealed_value


def test_disposable_address_branches_to_review_and_codes_run_out(
        api: Any, make_client: Any, smtp: tuple[_Inbox, int]) -> None:
    h, sid = _setup(api, make_client)
    base = f"/v1/sessions/{sid}/steps"
    assert api.post(f"{base}/email", json={"address": "x@mailinator.com"},
                    headers=h).status_code == 200
    code = _code(smtp[0].messages[-1].get_payload(decode=True).decode())
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        r = api.post(f"{base}/email/confirm", json={"code": wrong}, headers=h)
        assert r.json()["attempts_left"] == left
    r = api.post(f"{base}/email/confirm", json={"code": wrong}, headers=h)
    assert r.status_code == 422 and r.json()["attempts_left"] == 0
    r = api.post(f"{base}/email/confirm", json={"code": code}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "step_finished"
    steps = {s["step"]: s for s in api.get(f"/v1/sessions/{sid}", headers=h).json()["steps"]}
    assert steps["email"]["state"] == "failed"
    assert steps["email"]["reasons"] == ["email_code_attempts_exceeded"]
    # the disposable branch goes to review: the phone and questionnaire are not owed
    r = api.post(f"/v1/sessions/{sid}/submit", headers=h)
    assert r.status_code == 200, r.text
    d = api.get(f"/v1/sessions/{sid}/decision", headers=h).json()
    assert d["status"] == "declined" and "email_code_attempts_exceeded" in d["reasons"]


def test_bad_input_and_steps_outside_the_workflow(api: Any, make_client: Any,
                                                  smtp: tuple[_Inbox, int]) -> None:
    h, sid = _setup(api, make_client)
    base = f"/v1/sessions/{sid}/steps"
    r = api.post(f"{base}/email", json={"address": "not-an-address"}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "invalid_email"
    assert "not-an-address" not in r.text
    r = api.post(f"{base}/email", json={"address": ADDRESS, "name": "Jane"}, headers=h)
    assert r.status_code == 422 and "Jane" not in r.text
    r = api.post(f"{base}/email/confirm", json={"code": "123456"}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "otp_not_sent"
    assert smtp[0].messages == []
    r = api.post("/v1/sessions", json={"reference": "u2", "workflow": "kyc_standard"},
                 headers=h)
    other = r.json()["id"]
    r = api.post(f"/v1/sessions/{other}/steps/email", json={"address": ADDRESS}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "step_not_in_workflow"
    c = make_client("acme", "identity.verify")
    r = api.post(f"{base}/email", json={"address": ADDRESS}, headers=bearer(get_token(api, c)))
    assert r.status_code == 404 and smtp[0].messages == []

"""The subject export holds what the person gave the e-mail, phone and questionnaire steps
(opened from session_contacts), and only that subject's."""

from __future__ import annotations

import json
from typing import Any

import pyrage

from idproof.privacy.package import verify_zip
from tests.api.test_workflow_steps import ADDRESS, NUMBER, _code, contact_flow, settings
from tests.helpers import bearer, get_token
from tests.integration.test_workflow_delivery import _Gateway, _Inbox, gateway, smtp

__all__ = ["gateway", "settings", "smtp"]  # fixtures used by this module
SCOPES = "identity.verify identity.read_status workflows.manage privacy.manage"
PASS = "correct horse battery"


def _run(api: Any, h: dict[str, str], smtp: tuple[_Inbox, int],
         gateway: tuple[type[_Gateway], str], reference: str, address: str) -> str:
    sid = api.post("/v1/sessions", json={"reference": reference, "workflow": "contact"},
                   headers=h).json()["id"]
    base = f"/v1/sessions/{sid}/steps"
    assert api.post(f"{base}/email", json={"address": address}, headers=h).status_code == 200
    code = _code(smtp[0].messages[-1].get_payload(decode=True).decode())
    assert api.post(f"{base}/email/confirm", json={"code": code}, headers=h).status_code == 200
    assert api.post(f"{base}/phone", json={"number": NUMBER}, headers=h).status_code == 200
    code = _code(gateway[0].received[-1][1]["text"])
    assert api.post(f"{base}/phone/confirm", json={"code": code}, headers=h).status_code == 200
    r = api.post(f"{base}/questionnaire", json={"answers": {
        "occupation": f"Baker of {reference}", "terms": True}}, headers=h)
    assert r.status_code == 200, r.text
    return str(sid)


def test_export_holds_contacts_and_answers(api: Any, make_client: Any,
                                           smtp: tuple[_Inbox, int],
                                           gateway: tuple[type[_Gateway], str]) -> None:
    h = bearer(get_token(api, make_client("demo", SCOPES)))
    assert api.post("/v1/workflows", json={"id": "contact", "definition": contact_flow()},
                    headers=h).status_code == 201
    assert api.post("/v1/workflows/contact/versions/1/publish", headers=h).status_code == 200
    sid = _run(api, h, smtp, gateway, "user-7", ADDRESS)
    _run(api, h, smtp, gateway, "user-8", "someone.else@example.com")
    r = api.post("/v1/subjects/user-7/export", headers=h,
                 json={"purpose": "art. 15", "passphrase": PASS})
    assert r.status_code == 200, r.text
    members = verify_zip(pyrage.passphrase.decrypt(r.content, PASS))
    data = json.loads(members["subject.json"])
    given = {(c["session_id"], c["step"]): c for c in data["workflow_contacts"]}
    assert set(given) == {(sid, "email"), (sid, "phone"), (sid, "questionnaire")}
    assert given[(sid, "email")]["value"] == ADDRESS
    assert given[(sid, "phone")]["value"] == NUMBER
    assert given[(sid, "questionnaire")]["answers"] == {
        "occupation": "Baker of user-7",
        "terms": {"accepted": True, "legal_version": "2026-01"}}
    summary = members["summary.html"].decode()
    assert ADDRESS in summary and "Baker of user-7" in summary
    assert "someone.else" not in members["subject.json"].decode() + summary
    assert "user-8" not in summary

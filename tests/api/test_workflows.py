"""Tenant workflows over HTTP: versions, publish validation, sessions pinned, simulate."""

from __future__ import annotations

import copy
from typing import Any

from tests.helpers import bearer, get_token
from tests.unit.workflows.test_workflow_graph import two_branch


def definition() -> dict[str, Any]:
    return {"title": "EU onboarding", "minimum_age": 18, "max_attempts": 3,
            "document": {"types": ["passport", "id_card"], "countries": None,
                         "back_required_for": ["id_card"]},
            "flow": two_branch()}


def headers(api: Any, make_client: Any, tenant: str = "demo") -> dict[str, str]:
    c = make_client(tenant, "identity.verify identity.read_status workflows.manage")
    return bearer(get_token(api, c))


def test_versions_publish_and_sessions(api, make_client, container) -> None:
    h = headers(api, make_client)
    r = api.post("/v1/workflows", json={"id": "eu_onboarding", "definition": definition()},
                 headers=h)
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["status"]) == (1, "draft")
    # a draft cannot start a session
    r = api.post("/v1/sessions", json={"reference": "u1", "workflow": "eu_onboarding"},
                 headers=h)
    assert r.status_code == 422 and r.json()["code"] == "workflow_not_published"
    r = api.post("/v1/sessions", json={"reference": "u1", "workflow": "eu_onboarding",
                                       "version": 1}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "workflow_version_unpublished"
    assert api.post("/v1/workflows/eu_onboarding/versions/1/publish",
                    headers=h).status_code == 200
    r = api.post("/v1/sessions", json={"reference": "u1", "workflow": "eu_onboarding"},
                 headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["workflow_version"] == 1
    assert [s["step"] for s in r.json()["steps"]] == ["document", "selfie", "liveness"]
    sid = r.json()["id"]
    # version 2 changes a rule; the session stays on version 1
    v2 = definition()
    v2["flow"]["decision"][2]["reasons"] = ["face_near_threshold"]
    r = api.post("/v1/workflows/eu_onboarding/versions", json=v2, headers=h)
    assert r.status_code == 201 and r.json()["version"] == 2
    api.post("/v1/workflows/eu_onboarding/versions/2/publish", headers=h)
    api.post("/v1/workflows/eu_onboarding/versions/1/archive", headers=h)
    r = api.post("/v1/sessions", json={"reference": "u2", "workflow": "eu_onboarding",
                                       "version": 1}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "workflow_version_archived"
    r = api.post("/v1/sessions", json={"reference": "u2", "workflow": "eu_onboarding",
                                       "version": 9}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "workflow_version_not_found"
    r = api.post("/v1/sessions", json={"reference": "u2", "workflow": "nope"}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "unknown_workflow"
    assert api.get(f"/v1/sessions/{sid}", headers=h).json()["workflow_version"] == 1
    # the session's workflow is the stored version 1, decided by its CEL rules
    from idproof.verification.decision import StepResult, StepState, decide
    from idproof.verification.models import VerificationSession

    with container.db.read() as s:
        row = s.get(VerificationSession, sid)
        wf = container.sessions.workflow_of(row)
    assert wf.version == 1 and wf.flow is not None
    doc = StepResult(StepState.PASSED, (), {"issuing_country": "DEU", "age": 30,
                                            "document_valid": True})
    face = StepResult(StepState.PASSED, (), {"face_match": True, "face_score": 0.5})
    d = decide(wf, {"document": doc, "selfie": face})
    assert (d.status.value, d.reasons) == ("in_review", ("face_borderline",))
    # another tenant sees none of it
    other = headers(api, make_client, "acme")
    assert api.get("/v1/workflows/eu_onboarding", headers=other).status_code == 404
    r = api.post("/v1/sessions", json={"reference": "u3", "workflow": "eu_onboarding"},
                 headers=other)
    assert r.json()["code"] == "unknown_workflow"


def test_publish_refuses_with_the_place(api, make_client) -> None:
    h = headers(api, make_client)
    bad = definition()
    bad["flow"]["nodes"]["face"]["type"] = "liveness"  # a step twice: refused at once
    r = api.post("/v1/workflows", json={"id": "later", "definition": bad}, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["issues"][0]["code"] == "duplicate_step"
    assert r.json()["issues"][0]["node"] == "live"
    broken = definition()
    broken["flow"]["decision"][0]["when"] = "document.age < '18'"
    r = api.post("/v1/workflows", json={"id": "broken", "definition": broken}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "workflow_invalid"
    [issue] = r.json()["issues"]
    assert issue["code"] == "cel_type" and issue["rule"] == "underage"
    assert issue["expression"] == "document.age < '18'"
    r = api.post("/v1/workflows", json={"id": "kyc_standard", "definition": definition()},
                 headers=h)
    assert r.status_code == 409 and r.json()["code"] == "workflow_id_reserved"
    no_scope = bearer(get_token(api, make_client("demo")))
    assert api.get("/v1/workflows", headers=no_scope).status_code == 403


def test_templates_copy_schema_and_simulate(api, make_client) -> None:
    h = headers(api, make_client)
    listed = {w["id"]: w for w in api.get("/v1/workflows", headers=h).json()["data"]}
    assert listed["kyc_standard"]["template"] is True
    r = api.post("/v1/workflows", json={"id": "my_kyc", "copy_from": "kyc_standard"},
                 headers=h)
    assert r.status_code == 201, r.text
    copied = r.json()["definition"]
    assert copied["flow"]["decision"][0]["id"] == "declining_reason"
    schema = api.get("/v1/workflows/schema").json()
    assert schema["title"] == "idproof workflow definition" and "flow" in schema["properties"]
    # The typed variables rules may read, the questionnaire's answers among them.
    names = {v["name"]: v["type"] for v in schema["x-variables"]}
    assert names["document.age"] == "int" and names["screening.hit"] == "bool"
    assert {t for n, t in names.items() if n == "answers.<question id>"}
    assert "answers.<id>" in schema["$defs"]["Question"]["description"]
    api.post("/v1/workflows", json={"id": "eu", "definition": definition()}, headers=h)
    r = api.post("/v1/workflows/eu/simulate", headers=h, json={"steps": {
        "document": {"facts": {"issuing_country": "USA", "age": 30}},
        "selfie": {"facts": {"face_score": 0.2}}, "liveness": {"state": "passed"}}})
    assert r.status_code == 200, r.text
    assert r.json()["path"] == ["doc", "face", "live", "end"]
    assert (r.json()["decision"], r.json()["fired"]) == ("approve", ["ok"])
    r = api.post("/v1/workflows/eu/simulate", headers=h, json={"steps": {
        "document": {"facts": {"issuing_country": "DEU", "age": 16}},
        "selfie": {"facts": {"face_score": 0.2}}}})
    assert (r.json()["decision"], r.json()["reasons"]) == ("decline", ["underage"])
    assert copy.deepcopy(r.json())["path"] == ["doc", "face", "end"]


def test_diff_between_versions(api, make_client) -> None:
    h = headers(api, make_client)
    assert api.post("/v1/workflows", json={"id": "eu", "definition": definition()},
                    headers=h).status_code == 201
    v2 = definition()
    v2["minimum_age"] = 21
    v2["flow"]["decision"][2]["reasons"] = ["face_near_threshold"]
    assert api.post("/v1/workflows/eu/versions", json=v2, headers=h).status_code == 201
    r = api.get("/v1/workflows/eu/diff", params={"from": 1, "to": 2}, headers=h)
    assert r.status_code == 200, r.text
    assert [(c["kind"], c["where"], c["before"], c["after"]) for c in r.json()["changes"]] == [
        ("changed", "minimum_age", 18, 21),
        ("changed", "flow.decision.borderline.reasons", ["face_borderline"],
         ["face_near_threshold"])]
    r = api.get("/v1/workflows/eu/diff", params={"from": 1, "to": 9}, headers=h)
    assert r.status_code == 404 and r.json()["code"] == "workflow_version_not_found"
    r = api.get("/v1/workflows/eu/diff", params={"from": 0, "to": 2}, headers=h)
    assert r.status_code == 422

"""Console workflow builder pages: roles, CSRF, copy, check, drafts, publish, simulate, diff."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.testclient import TestClient

from tests.api.test_console_audit_settings import operator
from tests.console_helpers import csrf
from tests.unit.workflows.test_workflow_graph import two_branch


def definition() -> dict[str, Any]:
    return {"title": "EU onboarding", "minimum_age": 18, "max_attempts": 3,
            "document": {"types": ["passport", "id_card"], "countries": None,
                         "back_required_for": ["id_card"]},
            "flow": two_branch()}


def _copy(admin: TestClient, new_id: str = "eu_onboarding",
          source: str = "document_selfie") -> Any:
    page = admin.get("/console/workflows")
    return admin.post("/console/workflows", data={"csrf_token": csrf(page.text),
                                                  "copy_from": source, "new_id": new_id})


def _save(admin: TestClient, wid: str, text: str) -> Any:
    page = admin.get(f"/console/workflows/{wid}")
    return admin.post(f"/console/workflows/{wid}/versions",
                      data={"csrf_token": csrf(page.text), "definition": text})


def test_only_admins_and_owners_open_the_workflow_pages(container, clock) -> None:
    for role in ("reviewer", "analyst", "auditor", "developer"):
        tc = operator(container, clock, role)
        for path in ("/console/workflows", "/console/workflows/document_only",
                     "/console/workflows/document_only/diff"):
            r = tc.get(path)
            assert r.status_code == 403, (role, path)
            assert "Workflows" not in tc.get("/console/").text
    admin = operator(container, clock, "admin")
    r = admin.get("/console/workflows")
    assert r.status_code == 200 and "document_selfie" in r.text
    assert 'href="/console/workflows"' in r.text  # in the nav
    assert "No workflow of your own yet" in r.text


def test_copy_a_template_then_save_check_and_publish(container, clock) -> None:
    admin = operator(container, clock, "admin")
    tenant = container.tenants.find("demo")
    r = _copy(admin)
    assert r.status_code == 200 and "created (version 1, a draft)" in r.text, r.text
    assert r.url.path == "/console/workflows/eu_onboarding"
    (row,) = [w for w in container.workflows.list(tenant.id) if w["id"] == "eu_onboarding"]
    assert row["versions"] == [{"version": 1, "status": "draft"}]
    (ev,) = container.audit.list(action="workflow.version_created")
    assert (ev.actor_type, ev.actor_id) == ("operator", admin_id(container, "admin"))
    # the builder page carries the vendored editor and the definition for it
    assert '<script src="/console/static/drawflow.min.js" defer></script>' in r.text
    assert 'id="graph-table"' in r.text and 'id="definition"' in r.text
    for name in ("drawflow.min.js", "drawflow.min.css", "workflow_builder.js"):
        assert admin.get(f"/console/static/{name}").status_code == 200
    # a new draft from the JSON form
    r = _save(admin, "eu_onboarding", json.dumps(definition()))
    assert r.status_code == 200 and "Saved as draft version 2" in r.text, r.text
    # publish version 2
    r = admin.post("/console/workflows/eu_onboarding/versions/2/publish",
                   data={"csrf_token": csrf(r.text)})
    assert r.status_code == 200 and "Version 2 is published" in r.text
    assert container.workflows.resolve(tenant.id, "eu_onboarding", None).version == 2
    (ev,) = container.audit.list(action="workflow.published")
    assert ev.actor_type == "operator" and ev.details["version"] == 2
    # the diff page between 1 and 2
    r = admin.get("/console/workflows/eu_onboarding/diff?from=1&to=2")
    assert r.status_code == 200 and "flow.nodes.live" in r.text and "added" in r.text
    r = admin.get("/console/workflows/eu_onboarding/diff?from=2&to=2")
    assert 'id="no-changes"' in r.text
    assert admin.get("/console/workflows/eu_onboarding/diff?from=9&to=2").status_code == 404
    # a published version is not published again: 409, said on the page
    r = admin.post("/console/workflows/eu_onboarding/versions/2/publish",
                   data={"csrf_token": csrf(r.text)})
    assert r.status_code == 409 and "was not published" in r.text


def admin_id(container: Any, role: str) -> str:
    return str(container.operators.get(f"{role}@example.com").id)


def test_bad_cel_names_the_node_and_expression_and_publishes_nothing(container, clock
                                                                     ) -> None:
    admin = operator(container, clock, "admin")
    tenant = container.tenants.find("demo")
    _copy(admin)
    bad = definition()
    bad["flow"]["nodes"]["face"]["next"][0]["when"] = "document.issuing_country in"
    r = _save(admin, "eu_onboarding", json.dumps(bad))
    assert r.status_code == 422 and "Nothing was saved" in r.text
    issues = re.search(r'<ul id="issues" class="issues">(.*?)</ul>', r.text, re.S)
    assert issues and "step face" in issues.group(1) and "transition 1" in issues.group(1)
    assert "document.issuing_country in" in issues.group(1)
    # the submitted text is shown again, to be fixed
    assert "document.issuing_country in" in r.text.split('id="definition"')[1]
    # an unknown variable in a rule (phone has not run): the same validator as publish
    unknown = definition()
    unknown["flow"]["decision"][0]["when"] = "phone.country == 'DE'"
    r = _save(admin, "eu_onboarding", json.dumps(unknown))
    assert r.status_code == 422 and "Nothing was saved" in r.text
    issues = re.search(r'<ul id="issues" class="issues">(.*?)</ul>', r.text, re.S)
    assert issues and "rule underage" in issues.group(1) and "phone.country" in issues.group(1)
    # publishing a version that is not a draft: refused, said on the page
    r = admin.post("/console/workflows/eu_onboarding/versions/1/publish",
                   data={"csrf_token": csrf(r.text)})
    assert r.status_code == 200 and "Version 1 is published" in r.text
    r = admin.post("/console/workflows/eu_onboarding/versions/1/publish",
                   data={"csrf_token": csrf(r.text)})
    assert r.status_code == 409 and "was not published" in r.text
    assert admin.post("/console/workflows/eu_onboarding/versions/7/publish",
                      data={"csrf_token": csrf(r.text)}).status_code == 404
    statuses = {v["version"]: v["status"] for w in container.workflows.list(tenant.id)
                if w["id"] == "eu_onboarding" for v in w["versions"]}
    assert statuses == {1: "published"}  # the refused drafts were never stored
    assert len(container.audit.list(action="workflow.published")) == 1
    # not JSON at all: the line and column, nothing saved
    r = _save(admin, "eu_onboarding", '{"title": ')
    assert r.status_code == 422 and "not JSON (line 1" in r.text
    assert _save(admin, "document_only", json.dumps(definition())).status_code == 404


def test_the_check_endpoint_runs_the_publish_validator(container, clock) -> None:
    admin = operator(container, clock, "admin")
    page = admin.get("/console/workflows/document_only")
    token = csrf(page.text)
    body = definition()
    r = admin.post("/console/workflows/draft_x/check", json={"definition": body},
                   headers={"x-csrf-token": token})
    assert r.status_code == 200 and r.json() == {"ok": True, "issues": []}
    body["flow"]["nodes"]["face"]["next"][0]["when"] = "face.score < 'x'"
    r = admin.post("/console/workflows/draft_x/check", json={"definition": body},
                   headers={"x-csrf-token": token})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "workflow_invalid" and r.json()["ok"] is False
    (issue,) = r.json()["issues"]
    assert (issue["node"], issue["transition"], issue["expression"]) == (
        "face", 0, "face.score < 'x'")
    assert "step face" in issue["text"]
    # an unreachable step and a cycle without exit
    body = definition()
    body["flow"]["nodes"]["orphan"] = {"type": "review"}
    r = admin.post("/console/workflows/draft_x/check", json={"definition": body},
                   headers={"x-csrf-token": token})
    assert [i.get("node") for i in r.json()["issues"]] == ["orphan"]
    body = definition()
    body["flow"]["nodes"]["live"]["next"] = [{"to": "face"}]
    r = admin.post("/console/workflows/draft_x/check", json={"definition": body},
                   headers={"x-csrf-token": token})
    (issue,) = r.json()["issues"]
    assert issue["code"] == "cycle" and issue["node"] == "face"
    # no CSRF token: refused, nothing else said
    r = admin.post("/console/workflows/draft_x/check", json={"definition": body})
    assert r.status_code == 403
    r = admin.post("/console/workflows/draft_x/check", json={"definition": body, "x": 1},
                   headers={"x-csrf-token": token})
    assert r.status_code == 422 and r.json()["code"] == "invalid_body"
    r = admin.post("/console/workflows/draft_x/check", content=b"not json",
                   headers={"x-csrf-token": token, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_body"
    # a definition that is not even a workflow: the pydantic issues, with their path
    r = admin.post("/console/workflows/draft_x/check", json={"definition": {"title": 5}},
                   headers={"x-csrf-token": token})
    assert r.status_code == 422 and r.json()["code"] == "invalid_workflow"
    assert {i["path"] for i in r.json()["issues"]} >= {"title", "document"}


def test_csrf_is_required_and_nothing_changes_without_it(container, clock) -> None:
    admin = operator(container, clock, "admin")
    tenant = container.tenants.find("demo")
    r = admin.post("/console/workflows", data={"copy_from": "document_only",
                                               "new_id": "mine"})
    assert r.status_code == 403
    _copy(admin, "mine", "document_only")
    r = admin.post("/console/workflows/mine/versions/1/publish", data={})
    assert r.status_code == 403
    r = admin.post("/console/workflows/mine/versions",
                   data={"definition": json.dumps(definition())})
    assert r.status_code == 403
    (row,) = [w for w in container.workflows.list(tenant.id) if w["id"] == "mine"]
    assert row["versions"] == [{"version": 1, "status": "draft"}]
    # bad ids and duplicates: a clear message, nothing created
    r = _copy(admin, "Bad Id!", "document_only")
    assert r.status_code == 422 and "Nothing was created" in r.text
    r = _copy(admin, "mine", "document_only")
    assert r.status_code == 409 and "Nothing was created" in r.text
    r = _copy(admin, "document_only", "document_only")
    assert r.status_code == 409
    assert admin.get("/console/workflows/nope_nope").status_code == 404
    assert admin.get("/console/workflows/..%2F..").status_code == 404


def test_simulator_shows_the_path_decision_and_rules(container, clock) -> None:
    admin = operator(container, clock, "admin")
    _copy(admin)
    r = _save(admin, "eu_onboarding", json.dumps(definition()))
    token = csrf(r.text)
    form = {"csrf_token": token, "version": "2", "state_document": "passed",
            "facts_document": "issuing_country = USA\nage = 30\ndocument_valid = true",
            "state_selfie": "passed", "facts_selfie": "face_match = true; face_score = 0.3",
            "state_liveness": "passed"}
    r = admin.post("/console/workflows/eu_onboarding/simulate", data=form)
    assert r.status_code == 200, r.text
    assert re.search(r'id="sim-decision">approve<', r.text)
    assert re.search(r'id="sim-path">doc → face → live → end<', r.text)
    assert re.search(r'id="sim-fired">ok<', r.text)
    form.update(facts_document="issuing_country = DEU\nage = 16", state_liveness="")
    r = admin.post("/console/workflows/eu_onboarding/simulate", data=form)
    assert re.search(r'id="sim-decision">decline<', r.text)
    assert re.search(r'id="sim-path">doc → face → end<', r.text)
    assert re.search(r'id="sim-reasons">underage<', r.text)
    # the values filled in stay in the form
    assert "issuing_country = DEU" in r.text
    bad = {**form, "facts_document": "no equals sign"}
    r = admin.post("/console/workflows/eu_onboarding/simulate", data=bad)
    assert r.status_code == 422 and "line 1" in r.text
    bad = {**form, "state_document": "maybe"}
    assert admin.post("/console/workflows/eu_onboarding/simulate",
                      data=bad).status_code == 422
    bad = {**form, "unknown_field": "x"}
    assert admin.post("/console/workflows/eu_onboarding/simulate",
                      data=bad).status_code == 422

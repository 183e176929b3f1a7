"""The `screening` workflow step: the document holder screened by the screening service,
the graph's rules reading `screening.hit`."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.web.app import create_app
from tests.colour_engines import capture
from tests.helpers import ApiClient, bearer, get_token
from tests.task_log import TaskLog

# The colour engines read every green document as ALEX TESTER, born 1990-01-01, French.
LISTED = {"id": "NK-test-1", "schema": "Person", "caption": "Alex Tester",
          "properties": {"name": ["Alex Tester"], "birthDate": ["1990-01-01"],
                         "nationality": ["fr"], "topics": ["sanction"]},
          "referents": [], "datasets": ["fictional"], "target": True}
OTHER = {**LISTED, "id": "NK-test-2", "caption": "Maria Someone",
         "properties": {**LISTED["properties"], "name": ["Maria Someone"],
                        "birthDate": ["1950-05-05"]}}


pytestmark = pytest.mark.hold_tasks("process_capture")


@pytest.fixture
def jobs(task_queue: TaskLog) -> list[tuple[str, ...]]:
    return task_queue.of("process_capture")


@pytest.fixture
def api(colour_container: Container, jobs: list[tuple[str, str]]) -> Iterator[TestClient]:
    with TestClient(create_app(colour_container), client=("127.0.0.1", 50000),
                    raise_server_exceptions=True) as tc:
        yield tc


def _workflow() -> dict[str, Any]:
    return {"title": "Screened", "minimum_age": 18, "max_attempts": 3,
            "document": {"types": ["passport"], "countries": None, "back_required_for": []},
            "flow": {"start": "doc", "nodes": {
                "doc": {"type": "document", "next": [{"to": "scr"}]},
                "scr": {"type": "screening", "next": [{"to": "end"}]},
                "end": {"type": "end"}},
                "decision": [
                    {"id": "bad_document", "action": "decline", "when": "!document.passed"},
                    {"id": "listed", "action": "review", "when": "screening.hit",
                     "reasons": ["sanctions_review"]},
                    {"id": "ok", "action": "approve", "when": "true"}]}}


def _session(api: TestClient, container: Container, jobs: list[tuple[str, str]],
             entries: list[dict[str, Any]]) -> tuple[dict[str, str], str]:
    lines = "\n".join(json.dumps(e) for e in entries).encode()
    container.screening.import_file("opensanctions", io.BytesIO(lines), actor="test")
    c = get_token(api, _client(container))
    h = bearer(c)
    assert api.post("/v1/workflows", json={"id": "screened", "definition": _workflow()},
                    headers=h).status_code == 201
    assert api.post("/v1/workflows/screened/versions/1/publish", headers=h).status_code == 200
    r = api.post("/v1/sessions", json={"reference": "u1", "workflow": "screened"}, headers=h)
    assert [s["step"] for s in r.json()["steps"]] == ["document", "screening"]
    sid = r.json()["id"]
    r = api.post(f"/v1/sessions/{sid}/steps/screening", headers=h)  # nothing read yet
    assert r.status_code == 409 and r.json()["code"] == "document_missing"
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("d.jpg", capture("good", 1), "image/jpeg")}, headers=h)
    assert r.status_code == 202, r.text
    while jobs:
        container.captures.process(*jobs.pop(0))
    return h, sid


def _client(container: Container) -> Any:
    issued = container.clients.create(
        "demo", "identity.verify identity.read_status workflows.manage")
    return ApiClient(issued.client.id, issued.secret, "demo")


def test_a_listed_holder_is_screened_once_the_document_is_read(
        api: TestClient, colour_container: Container, jobs: list[tuple[str, str]]) -> None:
    h, sid = _session(api, colour_container, jobs, [LISTED, OTHER])
    # The step ran by itself in the document job, with nobody asking: the route finds it done.
    steps = {s["step"]: s for s in api.get(f"/v1/sessions/{sid}", headers=h).json()["steps"]}
    assert steps["screening"]["state"] == "failed"
    assert steps["screening"]["reasons"][0] in ("screening_potential_match",
                                                "screening_confirmed_match")
    r = api.post(f"/v1/sessions/{sid}/steps/screening", headers=h)
    assert r.status_code == 409 and r.json()["code"] == "step_finished"
    assert "Tester" not in r.text and "TESTER" not in r.text
    assert api.post(f"/v1/sessions/{sid}/submit", headers=h).status_code == 200
    d = api.get(f"/v1/sessions/{sid}/decision", headers=h).json()
    assert d["status"] == "in_review" and "sanctions_review" in d["reasons"], d
    (ev,) = colour_container.audit.list(action="session.screening_processed")
    text = json.dumps(ev.details if hasattr(ev, "details") else ev, default=str)
    assert "opensanctions:NK-test-1" in text and "ALEX" not in text.upper()
    assert ev.actor_type == "system"


def test_a_clear_holder_passes_and_is_approved(
        api: TestClient, colour_container: Container, jobs: list[tuple[str, str]]) -> None:
    h, sid = _session(api, colour_container, jobs, [OTHER])
    steps = {s["step"]: s for s in api.get(f"/v1/sessions/{sid}", headers=h).json()["steps"]}
    assert steps["screening"]["state"] == "passed" and steps["screening"]["reasons"] == []
    assert api.post(f"/v1/sessions/{sid}/submit", headers=h).status_code == 200
    d = api.get(f"/v1/sessions/{sid}/decision", headers=h).json()
    assert d["status"] == "approved", d


def test_submitted_while_the_document_is_read_screening_follows_and_decides(
        api: TestClient, colour_container: Container, jobs: list[tuple[str, str]]) -> None:
    """Screening owes nothing to the person: a submit while the document is still being
    read is accepted, and the document job screens and decides."""
    colour_container.screening.import_file(
        "opensanctions", io.BytesIO(json.dumps(LISTED).encode()), actor="test")
    h = bearer(get_token(api, _client(colour_container)))
    assert api.post("/v1/workflows", json={"id": "screened", "definition": _workflow()},
                    headers=h).status_code == 201
    assert api.post("/v1/workflows/screened/versions/1/publish", headers=h).status_code == 200
    sid = api.post("/v1/sessions", json={"reference": "u2", "workflow": "screened"},
                   headers=h).json()["id"]
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("d.jpg", capture("good", 1), "image/jpeg")}, headers=h)
    assert r.status_code == 202, r.text
    r = api.post(f"/v1/sessions/{sid}/submit", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "processing"
    while jobs:
        colour_container.captures.process(*jobs.pop(0))
    d = api.get(f"/v1/sessions/{sid}/decision", headers=h).json()
    assert d["status"] == "in_review" and "sanctions_review" in d["reasons"], d


def test_the_hosted_flow_has_no_screening_page_it_runs_by_itself(
        api: TestClient, colour_container: Container, jobs: list[tuple[str, str]]) -> None:
    """Through the hosted pages: the document, then (no page, no input) the screening, then
    the decision the rules make of its hit."""
    import re

    colour_container.screening.import_file(
        "opensanctions", io.BytesIO(json.dumps(LISTED).encode()), actor="test")
    h = bearer(get_token(api, _client(colour_container)))
    assert api.post("/v1/workflows", json={"id": "screened", "definition": _workflow()},
                    headers=h).status_code == 201
    assert api.post("/v1/workflows/screened/versions/1/publish", headers=h).status_code == 200
    r = api.post("/v1/sessions", json={"reference": "u3", "workflow": "screened"}, headers=h)
    sid, url = r.json()["id"], r.json()["url"].removeprefix("http://testserver")
    html = api.get(url).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token is not None
    api.post("/verify/s/consent", data={"csrf_token": token.group(1), "agree": "yes",
                                        "version": "2026-11-1"})
    html = api.get("/verify/s").text
    assert 'data-page="document"' in html and "Step 1 of 1" in html  # screening: no page
    r = api.post("/verify/s/documents", data={"csrf_token": token.group(1),
                                              "document_type": "passport"},
                 files={"front": ("d.jpg", capture("good", 1), "image/jpeg")},
                 follow_redirects=False)
    assert r.status_code == 303, r.text
    # While the document is read the person waits: there is nothing to fill in.
    assert 'data-page="waiting"' in api.get("/verify/s").text
    while jobs:
        colour_container.captures.process(*jobs.pop(0))
    html = api.get("/verify/s").text
    assert 'data-page="done"' in html
    d = api.get(f"/v1/sessions/{sid}/decision", headers=h).json()
    assert d["status"] == "in_review" and "sanctions_review" in d["reasons"], d


def test_without_a_readable_document_screening_fails_by_itself(
        api: TestClient, colour_container: Container, jobs: list[tuple[str, str]]) -> None:
    """Submitted with an unreadable document: the document step fails, and the screening
    step, which nobody could ever make pass now, fails too instead of holding the session."""
    h = bearer(get_token(api, _client(colour_container)))
    assert api.post("/v1/workflows", json={"id": "screened", "definition": _workflow()},
                    headers=h).status_code == 201
    assert api.post("/v1/workflows/screened/versions/1/publish", headers=h).status_code == 200
    sid = api.post("/v1/sessions", json={"reference": "u4", "workflow": "screened"},
                   headers=h).json()["id"]
    api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
             files={"file": ("d.jpg", capture("unreadable", 1), "image/jpeg")}, headers=h)
    assert api.post(f"/v1/sessions/{sid}/submit", headers=h).status_code == 200
    while jobs:
        colour_container.captures.process(*jobs.pop(0))
    steps = {s["step"]: s for s in api.get(f"/v1/sessions/{sid}", headers=h).json()["steps"]}
    assert steps["screening"]["state"] == "failed"
    assert steps["screening"]["reasons"] == ["screening_document_unreadable"]
    d = api.get(f"/v1/sessions/{sid}/decision", headers=h).json()
    assert d["status"] == "declined", d  # the rules: !document.passed declines

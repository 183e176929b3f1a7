"""`POST /v1/sessions/{id}/review`: approve, decline, resubmit, four eyes, conflicts, tenancy."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.verification.service import Actor
from idproof.web.app import create_app
from idproof.webhooks.models import WebhookEvent
from tests.helpers import bearer, get_token
from tests.review_support import duplicate_in_review, unreadable_in_review, upload
from tests.task_log import TaskLog

SCOPES = "identity.verify identity.read_status identity.review webhooks.manage"

pytestmark = pytest.mark.hold_tasks("process_capture")


@pytest.fixture
def jobs(task_queue: TaskLog) -> list[tuple[str, ...]]:
    return task_queue.of("process_capture")


@pytest.fixture
def api(colour_container: Container, jobs: list[tuple[str, str]]) -> Iterator[TestClient]:
    with TestClient(create_app(colour_container), client=("127.0.0.1", 50000),
                    raise_server_exceptions=False) as tc:
        yield tc


@pytest.fixture
def auth(api, make_client):  # type: ignore[no-untyped-def]
    return bearer(get_token(api, make_client(scopes=SCOPES)))


def review(api, auth, sid, **body):  # type: ignore[no-untyped-def]
    headers = dict(auth)
    if "version" in body:
        headers["If-Match"] = f'"{body.pop("version")}"'
    return api.post(f"/v1/sessions/{sid}/review", json=body, headers=headers)


def events(container: Container, sid: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    with container.db.read() as s:
        rows = s.scalars(select(WebhookEvent).order_by(WebhookEvent.created_at)).all()
        out = [(e.type, json.loads(e.payload)["data"]) for e in rows]
    return [(t, d) for t, d in out if d.get("session_id") == sid]


def subscribe(api, auth) -> None:  # type: ignore[no-untyped-def]
    r = api.post("/v1/webhooks", headers=auth, json={
        "url": "https://8.8.8.8/hooks", "event_types": ["session.reviewed", "session.decided"]})
    assert r.status_code == 201, r.text


def test_approve_sets_the_final_status_with_webhooks_and_audit(api, auth, colour_container,
                                                              jobs) -> None:
    subscribe(api, auth)
    sid = unreadable_in_review(api, auth, colour_container, jobs)
    r = review(api, auth, sid, decision="approved", reasons=["manual_check_passed"],
               note="Checked <b>by hand</b>")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "approved" and body["pending_second_review"] is False
    assert r.headers["etag"] == f'"{body["version"]}"'
    d = api.get(f"/v1/sessions/{sid}/decision", headers=auth).json()
    assert d["status"] == "approved" and d["is_verified"] is True
    assert d["reasons"] == ["manual_check_passed"]
    types = [t for t, _ in events(colour_container, sid)]
    assert types[-2:] == ["session.reviewed", "session.decided"]
    reviewed = dict(events(colour_container, sid))["session.reviewed"]
    assert reviewed["review"] == {"decision": "approved", "reasons": ["manual_check_passed"],
                                  "steps": [], "reviewer_type": "client"}
    assert "by hand" not in json.dumps(events(colour_container, sid))  # no note in webhooks
    (ev,) = colour_container.audit.list(action="session.reviewed")
    assert ev.details["note"] == "Checked <b>by hand</b>" and ev.actor_type == "client"
    # decided: a second review is refused
    r = review(api, auth, sid, decision="declined", reasons=["other"], note="x")
    assert r.status_code == 409 and r.json()["code"] == "not_in_review"


def test_bad_input(api, auth, colour_container, jobs, make_client) -> None:
    sid = unreadable_in_review(api, auth, colour_container, jobs)
    r = review(api, auth, sid, decision="declined")
    assert r.status_code == 422 and r.json()["code"] == "reasons_required"
    r = review(api, auth, sid, decision="declined", reasons=["made_up"])
    assert r.status_code == 422 and r.json()["code"] == "unknown_reason"
    r = review(api, auth, sid, decision="resubmit")
    assert r.status_code == 422 and r.json()["code"] == "steps_required"
    r = review(api, auth, sid, decision="resubmit", steps=["selfie"])
    assert r.status_code == 422 and r.json()["code"] == "step_not_in_workflow"
    r = review(api, auth, sid, decision="maybe")
    assert r.status_code == 422
    # scope and tenancy
    other_scope = bearer(get_token(api, make_client(scopes="identity.read_status")))
    assert review(api, other_scope, sid, decision="approved").status_code == 403
    other = bearer(get_token(api, make_client(tenant="acme", scopes=SCOPES)))
    r = review(api, other, sid, decision="approved")
    assert r.status_code == 404 and r.json()["code"] == "session_not_found"
    # not in review
    fresh = api.post("/v1/sessions", json={"reference": "u-9"}, headers=auth).json()["id"]
    r = review(api, auth, fresh, decision="approved")
    assert r.status_code == 409 and r.json()["code"] == "not_in_review"
    assert api.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "in_review"


def test_stale_version_conflicts_and_changes_nothing(api, auth, colour_container,
                                                    jobs) -> None:
    sid = unreadable_in_review(api, auth, colour_container, jobs)
    with colour_container.db.read() as s:
        from idproof.verification.models import VerificationSession
        row = s.get(VerificationSession, sid)
        version = colour_container.sessions.version_of(row)
    r = review(api, auth, sid, decision="declined", reasons=["document_unreadable"],
               version="0" * 16)
    assert r.status_code == 409 and r.json()["code"] == "review_conflict"
    r = review(api, auth, sid, decision="declined", reasons=["document_unreadable"],
               version=version)
    assert r.status_code == 200 and r.json()["status"] == "declined"
    # a second reviewer with the same (now stale) form
    r = review(api, auth, sid, decision="approved", version=version)
    assert r.status_code == 409
    assert api.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "declined"


def test_resubmit_reopens_the_steps_and_reissues_the_link(api, auth, colour_container,
                                                         jobs) -> None:
    subscribe(api, auth)
    sid = unreadable_in_review(api, auth, colour_container, jobs)
    r = review(api, auth, sid, decision="resubmit", steps=["document"],
               reasons=["poor_image_quality"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "in_progress" and body["url"].startswith("http://testserver/verify/")
    view = api.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert view["steps"][0]["state"] == "pending" and view["submitted_at"] is None
    assert [t for t, _ in events(colour_container, sid)][-1] == "session.reviewed"
    # the person tries again and this time the document is read
    upload(api, auth, sid, "good", 5)
    from tests.review_support import run
    run(colour_container, jobs)
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text


def test_four_eyes_decline_needs_a_second_reviewer(api, auth, colour_container, jobs,
                                                  make_client) -> None:
    tenant = colour_container.tenants.find("demo")
    colour_container.sessions.set_review_settings(Actor(tenant_id=tenant.id), sla_hours=8,
                                                  four_eyes=True)
    _first, dup = duplicate_in_review(api, auth, colour_container, jobs)
    r = review(api, auth, dup, decision="declined", reasons=["duplicate_document"],
               note="same passport as another customer")
    assert r.status_code == 202 and r.json()["pending_second_review"] is True
    assert r.json()["status"] == "in_review"
    # the same reviewer cannot confirm
    r = review(api, auth, dup, decision="declined", reasons=["duplicate_document"])
    assert r.status_code == 409 and r.json()["code"] == "second_reviewer_required"
    second = bearer(get_token(api, make_client(scopes=SCOPES)))
    r = review(api, second, dup, decision="declined", reasons=["document_fraudulent"])
    assert r.status_code == 200 and r.json()["status"] == "declined"
    assert r.json()["reasons"] == ["duplicate_document", "document_fraudulent"]
    (ev,) = colour_container.audit.list(action="session.reviewed")
    assert ev.details["first_reviewer"].startswith("client:")
    assert len(colour_container.audit.list(action="session.review_proposed")) == 1


def test_four_eyes_approval_of_a_duplicate(api, auth, colour_container, jobs,
                                          make_client) -> None:
    tenant = colour_container.tenants.find("demo")
    colour_container.sessions.set_review_settings(Actor(tenant_id=tenant.id), sla_hours=24,
                                                  four_eyes=True)
    _, dup = duplicate_in_review(api, auth, colour_container, jobs)
    r = review(api, auth, dup, decision="approved",
               reasons=["duplicate_confirmed_same_person"])
    assert r.status_code == 202
    second = bearer(get_token(api, make_client(scopes=SCOPES)))
    r = review(api, second, dup, decision="approved")
    assert r.status_code == 200 and r.json()["status"] == "approved"
    # an approval without a duplicate needs one reviewer only
    sid = unreadable_in_review(api, auth, colour_container, jobs, reference="u-2")
    assert review(api, auth, sid, decision="approved").status_code == 200

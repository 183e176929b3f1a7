"""Sessions never get stuck: incomplete submits are refused, used-up retakes decide, left
sessions are abandoned, overdue jobs are settled, and bad timing gets a clear 409/410.

Through the HTTP API with the real services; the OCR and face engines answer from the
image's colour (tests/colour_engines.py) so that each test chooses what a capture shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.web.app import create_app
from idproof.webhooks.models import WebhookEvent
from tests.colour_engines import capture
from tests.helpers import bearer, get_token
from tests.task_log import TaskLog

SCOPES = "identity.verify identity.read_status webhooks.manage"
PUBLIC = "https://8.8.8.8/hooks/idproof"

pytestmark = pytest.mark.hold_tasks("process_capture")


@pytest.fixture
def jobs(task_queue: TaskLog) -> list[tuple[str, ...]]:
    """Document jobs queue here; a test runs them (or loses them, as a killed worker)."""
    return task_queue.of("process_capture")


@pytest.fixture
def api(colour_container: Container, jobs: list[tuple[str, str]]) -> Iterator[TestClient]:
    with TestClient(create_app(colour_container), client=("127.0.0.1", 50000),
                    raise_server_exceptions=False) as tc:
        yield tc


@pytest.fixture
def app_client(make_client):  # type: ignore[no-untyped-def]
    return make_client(scopes=SCOPES)


@pytest.fixture
def auth(api: TestClient, app_client):  # type: ignore[no-untyped-def]
    return bearer(get_token(api, app_client))


def run(container: Container, jobs: list[tuple[str, str]]) -> None:
    pending, jobs[:] = list(jobs), []
    for sid, cid in pending:
        container.captures.process(sid, cid)


def new_session(api: TestClient, auth: dict[str, str], workflow: str = "document_selfie"
                ) -> str:
    r = api.post("/v1/sessions", json={"workflow": workflow, "reference": "u-1"}, headers=auth)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def document(api: TestClient, auth: dict[str, str], sid: str, kind: str = "good",
             side: str = "front", nonce: int = 1) -> object:
    return api.post(f"/v1/sessions/{sid}/documents", data={"side": side},
                    files={"file": ("d.jpg", capture(kind, nonce), "image/jpeg")}, headers=auth)


def selfie(api: TestClient, auth: dict[str, str], sid: str, kind: str, nonce: int = 2
           ) -> object:
    return api.post(f"/v1/sessions/{sid}/selfie",
                    files={"file": ("s.jpg", capture(kind, nonce), "image/jpeg")},
                    headers=auth)


def status(api: TestClient, auth: dict[str, str], sid: str) -> dict:  # type: ignore[type-arg]
    return api.get(f"/v1/sessions/{sid}", headers=auth).json()  # type: ignore[no-any-return]


def step(view: dict, name: str) -> dict:  # type: ignore[type-arg]
    return next(s for s in view["steps"] if s["step"] == name)  # type: ignore[no-any-return]


def test_submit_with_a_selfie_awaiting_a_retake_is_refused(api, auth, colour_container,
                                                           jobs) -> None:
    """The reported bug: a faceless selfie, then submit, left the session processing forever."""
    sid = new_session(api, auth)
    document(api, auth, sid)
    run(colour_container, jobs)
    r = selfie(api, auth, sid, "no_face")
    assert r.status_code == 200 and step(r.json(), "selfie")["state"] == "retry"
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "steps_incomplete" and body["incomplete_steps"] == ["selfie"]
    assert body["steps"] == [{"step": "selfie", "state": "retry", "reasons": ["no_face"]}]
    assert status(api, auth, sid)["status"] == "in_progress"  # nothing changed
    # the retake completes it
    assert selfie(api, auth, sid, "face", nonce=3).status_code == 200
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "approved"


def test_submit_after_a_failed_liveness_attempt_is_refused(api, auth, colour_container,
                                                           jobs) -> None:
    sid = new_session(api, auth, "kyc_standard")
    document(api, auth, sid)
    run(colour_container, jobs)
    assert selfie(api, auth, sid, "face").status_code == 200
    cid = api.post(f"/v1/sessions/{sid}/liveness/challenge", headers=auth).json()["challenge_id"]
    frames = [("frames", (f"f{i}.jpg", capture("face", 10 + i), "image/jpeg"))
              for i in range(10)]
    r = api.post(f"/v1/sessions/{sid}/liveness", headers=auth, files=frames,
                 data={"challenge_id": cid, "timestamps": json.dumps([i * 200 for i in range(10)])})
    assert r.status_code == 200 and step(r.json(), "liveness")["state"] == "retry", r.text
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 409 and r.json()["incomplete_steps"] == ["liveness"]


def test_used_up_retakes_decide_with_the_steps_reason(api, auth, colour_container,
                                                      jobs) -> None:
    sid = new_session(api, auth)
    document(api, auth, sid)
    run(colour_container, jobs)
    wf_attempts = 3  # document_selfie's max_attempts
    for n in range(wf_attempts):
        view = selfie(api, auth, sid, "no_face", nonce=20 + n).json()  # type: ignore[attr-defined]
    assert step(view, "selfie") == {"step": "selfie", "state": "failed",
                                    "reasons": ["no_face"], "attempts": wf_attempts}
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 200 and r.json()["status"] in ("declined", "in_review")
    decision = api.get(f"/v1/sessions/{sid}/decision", headers=auth).json()
    assert decision["decided"] and "no_face" in decision["reasons"]


def test_unreadable_document_after_submit_fails_instead_of_asking_for_a_retake(
        api, auth, colour_container, jobs) -> None:
    """Submitted while the document is still being read: a retake is no longer possible, so
    an unreadable document fails the step and the session is decided."""
    sid = new_session(api, auth, "document_only")
    document(api, auth, sid, "unreadable")
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "processing"
    run(colour_container, jobs)
    view = status(api, auth, sid)
    assert view["status"] == "in_review"
    assert step(view, "document")["reasons"] == ["document_unreadable"]


def test_an_unreadable_back_keeps_the_read_front(api, auth, colour_container, jobs) -> None:
    """A readable front, then an unreadable back: the step goes back to the front's result
    (it stayed `processing` forever)."""
    sid = new_session(api, auth, "document_only")
    document(api, auth, sid)
    run(colour_container, jobs)
    assert step(status(api, auth, sid), "document")["state"] == "passed"
    document(api, auth, sid, "unreadable", side="back", nonce=5)
    assert step(status(api, auth, sid), "document")["state"] == "processing"
    run(colour_container, jobs)
    assert step(status(api, auth, sid), "document")["state"] == "passed"
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "approved"


def test_bad_timing_gets_clear_codes(api, auth, app_client, colour_container, jobs,
                                     clock) -> None:
    sid = new_session(api, auth, "document_only")
    document(api, auth, sid)
    run(colour_container, jobs)
    assert api.post(f"/v1/sessions/{sid}/submit", headers=auth).status_code == 200
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "already_submitted"
    r = document(api, auth, sid, nonce=9)
    assert r.status_code == 409 and r.json()["code"] == "session_closed"  # type: ignore[attr-defined]
    assert jobs == []  # nothing queued, nothing stored
    assert status(api, auth, sid)["status"] == "approved"

    late = new_session(api, auth, "document_only")
    document(api, auth, late, nonce=11)
    run(colour_container, jobs)
    clock.advance(86_401)
    auth = bearer(get_token(api, app_client))  # the old token expired meanwhile
    r = api.post(f"/v1/sessions/{late}/submit", headers=auth)
    assert r.status_code == 410 and r.json()["code"] == "session_expired"
    r = document(api, auth, late, nonce=12)
    assert r.status_code == 410 and r.json()["code"] == "session_expired"  # type: ignore[attr-defined]
    assert status(api, auth, late)["status"] == "in_progress"  # until the sweep closes it
    colour_container.captures.sweep()
    assert status(api, auth, late)["status"] == "abandoned"
    r = api.post(f"/v1/sessions/{late}/submit", headers=auth)
    assert r.status_code == 410 and r.json()["code"] == "session_expired"


def test_a_session_left_in_progress_is_abandoned_after_the_inactivity_limit(
        api, auth, app_client, colour_container, jobs, clock) -> None:
    r = api.post("/v1/webhooks", json={"url": PUBLIC, "event_types": ["session.expired"]},
                 headers=auth)
    assert r.status_code == 201, r.text
    sid = new_session(api, auth)
    document(api, auth, sid)
    run(colour_container, jobs)
    clock.advance(59 * 60)
    colour_container.captures.sweep()
    auth = bearer(get_token(api, app_client))  # tokens live 10 minutes
    assert status(api, auth, sid)["status"] == "in_progress"
    assert selfie(api, auth, sid, "no_face").status_code == 200  # activity: the hour restarts
    clock.advance(59 * 60)
    colour_container.captures.sweep()
    auth = bearer(get_token(api, app_client))  # tokens live 10 minutes
    assert status(api, auth, sid)["status"] == "in_progress"
    clock.advance(2 * 60)
    assert colour_container.captures.sweep()["expired"] == 1
    auth = bearer(get_token(api, app_client))
    assert status(api, auth, sid)["status"] == "abandoned"
    with colour_container.db.read() as s:
        (ev,) = s.query(WebhookEvent).all()
    payload = json.loads(ev.payload)
    assert ev.type == "session.expired" and payload["data"]["status"] == "abandoned"
    assert payload["data"]["session_id"] == sid
    (audit,) = colour_container.audit.list(action="session.abandoned")
    assert audit.details == {"cause": "inactive"}


def test_no_session_stays_processing_past_the_job_timeout_and_one_sweep(
        api, auth, app_client, colour_container, jobs, clock) -> None:
    """A worker killed with the document job: the sweep queues it again after
    `stuck_after`; if no result comes by the job timeout, one sweep decides the session."""
    timeout = colour_container.settings.jobs.timeout_seconds
    stuck_after = colour_container.settings.jobs.stuck_after_seconds
    sid = new_session(api, auth, "document_only")
    document(api, auth, sid)
    assert api.post(f"/v1/sessions/{sid}/submit", headers=auth).json()["status"] == "processing"
    jobs.clear()  # the worker died with the job
    clock.advance(stuck_after + 1)
    assert colour_container.captures.sweep()["requeued"] == 1
    jobs.clear()  # and died again
    clock.advance(timeout - stuck_after)
    result = colour_container.captures.sweep()
    assert result["settled"] == 1 and result["requeued"] == 0
    auth = bearer(get_token(api, app_client))
    view = status(api, auth, sid)
    assert view["status"] == "in_review"
    assert step(view, "document")["reasons"] == ["processing_timeout"]
    decision = api.get(f"/v1/sessions/{sid}/decision", headers=auth).json()
    assert decision["decided"] and decision["reasons"] == ["processing_timeout"]
    # the raw images went with the decision; a late job changes nothing
    with colour_container.db.read() as s:
        from idproof.verification.models import Capture

        cap = s.query(Capture).one()
        assert cap.deleted_at is not None
    colour_container.captures.process(sid, cap.id)
    assert status(api, auth, sid)["status"] == "in_review"


def test_every_step_result_is_a_step_recorded_event(api, auth, colour_container, jobs  # type: ignore[no-untyped-def]
                                                    ) -> None:
    """SessionService alone writes steps, and publishes `StepRecorded` (ids, step, state)
    for each result in the transaction that records it: the upload, then the job."""
    from idproof.core.events import StepRecorded

    seen: list[StepRecorded] = []
    colour_container.sessions._events.subscribe(StepRecorded, lambda _s, e: seen.append(e))
    sid = new_session(api, auth)
    assert document(api, auth, sid).status_code == 202  # type: ignore[attr-defined]
    assert [(e.session_id, e.step, e.state) for e in seen] == [(sid, "document", "processing")]
    run(colour_container, jobs)
    assert [(e.step, e.state) for e in seen] == [("document", "processing"),
                                                 ("document", "passed")]
    assert all(e.tenant_id == seen[0].tenant_id for e in seen)

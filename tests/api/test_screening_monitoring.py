"""Ongoing monitoring: re-screening approved subjects after an import, hit cases, the
`screening.match` webhook without personal data, and the console's hit review."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.core.clock import FrozenClock
from idproof.crypto.fields import bind_protection
from idproof.screening.models import ScreeningHit
from idproof.screening.service import RESCREEN_TASK
from idproof.verification.models import SessionDocument, VerificationSession
from idproof.verification.schemas import CreateSession
from idproof.verification.service import Actor
from idproof.web.app import create_app
from idproof.webhooks.models import WebhookEvent
from tests.console_helpers import csrf, enroll_totp
from tests.helpers import bearer, get_token
from tests.task_log import TaskLog

DATA = Path(__file__).parents[1] / "data" / "screening"
pytestmark = [pytest.mark.postgres, pytest.mark.hold_tasks(RESCREEN_TASK)]
_queued: list[list[tuple[str, ...]]] = []


@pytest.fixture(autouse=True)
def rescreens(task_queue: TaskLog) -> Iterator[list[tuple[str, ...]]]:
    """The re-screening tasks the imports queue (held; `ofac` runs them as a worker would)."""
    _queued.append(task_queue.of(RESCREEN_TASK))
    yield _queued[-1]
    _queued.pop()


def approved_subject(c: Container, tenant: str, given: str, surname: str,
                     born: str = "1961-03-04", status: str = "approved") -> str:
    """A session whose document was read and which was decided (the rows the document job
    and the decision leave behind)."""
    tenant_id = c.tenants.find(tenant).id
    view, _, _ = c.sessions.create(Actor(tenant_id=tenant_id, client_id="cli_test"),
                                   CreateSession(workflow="document_only", reference="ref-1"))
    sid = view.id
    with c.db.session() as s:
        bind_protection(s, c.protection)
        row = s.get(VerificationSession, sid)
        assert row is not None
        row.status = status
        doc = SessionDocument(id=f"doc_{sid[4:]}", session_id=sid, tenant_id=tenant_id,
                              subject_key_id=c.protection.subject_key(tenant_id,
                                                                      row.subject_key_id),
                              document_type="passport",
                              document_number_token="tok_x", document_index="i" * 32,
                              created_at=c.clock.now())
        doc.given_names, doc.surname, doc.birth_date = given, surname, born
        doc.nationality, doc.issuing_country, doc.sex = "RUS", "RUS", "M"
        s.add(doc)
    return sid


def ofac(c: Container, marker: bytes = b"") -> None:
    raw = (DATA / "sdn.xml").read_bytes()
    if marker:  # a changed list: one entry's birth year differs
        raw = raw.replace(b"<dateOfBirth>1972</dateOfBirth>", marker)
    result = c.screening.import_file("ofac", io.BytesIO(raw), actor="test")
    if _queued:  # this module holds the task: the import queued it and ran nothing
        assert _queued[-1] == [("ofac", result.snapshot_id)]
        _queued[-1].clear()
    c.screening_monitor.rescreen("ofac", result.snapshot_id)  # what the worker runs


@pytest.fixture
def endpoint(api: TestClient, make_client, container: Container) -> str:  # type: ignore[no-untyped-def]
    auth = bearer(get_token(api, make_client(scopes="webhooks.manage")))
    r = api.post("/v1/webhooks", json={"url": "https://8.8.8.8/hooks",
                                       "event_types": ["screening.match"]}, headers=auth)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_import_rescreens_monitored_approved_subjects(container: Container, endpoint) -> None:  # type: ignore[no-untyped-def]
    ofac(container)  # the first version: nobody is monitored yet
    hit_sid = approved_subject(container, "demo", "Igor", "Kasparovski")
    approved_subject(container, "demo", "Margaret", "Thistlewood")
    declined = approved_subject(container, "demo", "Igor", "Kasparovski", status="declined")
    container.tenants.ensure("other")
    approved_subject(container, "other", "Igor", "Kasparovski")  # monitoring off there
    demo = container.tenants.find("demo").id
    container.screening.configure(demo, monitoring=True, actor="test")

    ofac(container, b"<dateOfBirth>1971</dateOfBirth>")
    with container.db.read() as s:
        hits = list(s.scalars(select(ScreeningHit)))
    assert [(h.session_id, h.source, h.entry_id, h.status, h.origin) for h in hits] == [
        (hit_sid, "ofac", "90001", "open", "monitoring")]
    assert declined not in {h.session_id for h in hits}
    events = container.audit.list(action="screening.hit_found")
    assert len(events) == 1 and "Kasparov" not in json.dumps(events[0].details)

    with container.db.read() as s:
        (event,) = s.scalars(select(WebhookEvent).where(WebhookEvent.type == "screening.match"))
    body = json.loads(event.payload)
    assert body["data"] == {"hit_id": hits[0].id, "session_id": hit_sid, "source": "ofac",
                            "entry_id": "90001", "score": hits[0].score,
                            "snapshot_id": hits[0].snapshot_id, "origin": "monitoring",
                            "status": "open"}
    assert "igor" not in event.payload.lower() and "kasparov" not in event.payload.lower()

    # The same list again: the hit is known, no second case, no second webhook.
    ofac(container, b"<dateOfBirth>1970</dateOfBirth>")
    with container.db.read() as s:
        assert len(list(s.scalars(select(ScreeningHit)))) == 1
        assert len(list(s.scalars(select(WebhookEvent)))) == 1


def test_an_erased_subject_is_not_rescreened(container: Container) -> None:
    sid = approved_subject(container, "demo", "Igor", "Kasparovski")
    demo = container.tenants.find("demo").id
    container.screening.configure(demo, monitoring=True, actor="test")
    with container.db.read() as s:
        key = s.scalar(select(SessionDocument.subject_key_id)
                       .where(SessionDocument.session_id == sid))
    assert key is not None
    container.protection.shred(key, tenant_id=demo)
    ofac(container)
    with container.db.read() as s:
        assert list(s.scalars(select(ScreeningHit))) == []


def operator_browser(container: Container, clock: FrozenClock, email: str,
                     role: str, tenants: list[str] | None) -> TestClient:
    issued = container.operators.create(email, role, tenants)
    tc = TestClient(create_app(container), client=("127.0.0.1", 50001),
                    raise_server_exceptions=False)
    enroll_totp(tc, issued.enrollment_url, clock)
    return tc


def test_console_hit_review_confirm_and_dismiss(container: Container, clock) -> None:  # type: ignore[no-untyped-def]
    demo = container.tenants.find("demo").id
    container.screening.configure(demo, monitoring=True, actor="test")
    sid = approved_subject(container, "demo", "Igor", "Kasparovski")
    ofac(container)
    with container.db.read() as s:
        (hit,) = s.scalars(select(ScreeningHit))
    rev = operator_browser(container, clock, "rev@example.com", "reviewer", ["demo"])
    listing = rev.get("/console/screening")
    assert listing.status_code == 200 and hit.id in listing.text and sid in listing.text
    page = rev.get(f"/console/screening/{hit.id}")
    assert page.status_code == 200 and "90001" in page.text
    assert "Igor" not in page.text.split("Listed name")[0]  # the subject's name is not shown
    # no note: refused, nothing changes
    r = rev.post(f"/console/screening/{hit.id}/review",
                 data={"csrf_token": csrf(page.text), "verdict": "dismissed", "note": " "})
    assert r.status_code == 422 and "note" in r.text
    assert container.audit.list(action="screening.hit_reviewed") == []
    # no CSRF token: refused
    r = rev.post(f"/console/screening/{hit.id}/review",
                 data={"verdict": "dismissed", "note": "x"})
    assert r.status_code in (400, 403)
    note = "<b>different</b> birth date on the passport"
    r = rev.post(f"/console/screening/{hit.id}/review",
                 data={"csrf_token": csrf(page.text), "verdict": "dismissed", "note": note})
    assert r.status_code == 200 and "false positive" in r.text
    assert "&lt;b&gt;different" in r.text and "<b>different" not in r.text
    (ev,) = container.audit.list(action="screening.hit_reviewed")
    assert ev.details["verdict"] == "dismissed" and ev.target_id == sid
    assert note not in json.dumps(ev.details)
    with container.db.read() as s:
        row = s.get(ScreeningHit, hit.id)
        assert row is not None and (row.status, row.note) == ("dismissed", note)
    # a second verdict on the same hit: a conflict, the first one stays
    r = rev.post(f"/console/screening/{hit.id}/review",
                 data={"csrf_token": csrf(page.text), "verdict": "confirmed", "note": "no"})
    assert r.status_code == 409
    assert hit.id in rev.get("/console/screening?status=dismissed").text
    assert hit.id not in rev.get("/console/screening").text


def test_console_hits_are_scoped_to_the_operators_tenants(container: Container, clock) -> None:  # type: ignore[no-untyped-def]
    demo = container.tenants.find("demo").id
    container.screening.configure(demo, monitoring=True, actor="test")
    approved_subject(container, "demo", "Igor", "Kasparovski")
    ofac(container)
    with container.db.read() as s:
        (hit,) = s.scalars(select(ScreeningHit))
    container.tenants.ensure("other")
    other = operator_browser(container, clock, "o@example.com", "reviewer", ["other"])
    assert hit.id not in other.get("/console/screening").text
    assert other.get(f"/console/screening/{hit.id}").status_code == 404
    page = other.get("/console/screening")
    r = other.post(f"/console/screening/{hit.id}/review",
                   data={"csrf_token": csrf(page.text), "verdict": "confirmed", "note": "x"})
    assert r.status_code == 404
    analyst = operator_browser(container, clock, "a@example.com", "analyst", ["demo"])
    assert analyst.get("/console/screening").status_code == 403


def test_monitoring_pages_through_many_subjects(container: Container, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import idproof.screening.monitoring as monitoring

    monkeypatch.setattr(monitoring, "PAGE", 2)
    demo = container.tenants.find("demo").id
    container.screening.configure(demo, monitoring=True, actor="test")
    matching = {approved_subject(container, "demo", "Igor", "Kasparovski") for _ in range(3)}
    for _ in range(2):
        approved_subject(container, "demo", "Margaret", "Thistlewood")
    ofac(container)
    with container.db.read() as s:
        found = {h.session_id for h in s.scalars(select(ScreeningHit))}
    assert found == matching


def test_a_superseded_snapshot_is_not_rescreened(container: Container, rescreens) -> None:  # type: ignore[no-untyped-def]
    demo = container.tenants.find("demo").id
    container.screening.configure(demo, monitoring=True, actor="test")
    sid = approved_subject(container, "demo", "Igor", "Kasparovski")
    raw = (DATA / "sdn.xml").read_bytes()
    first = container.screening.import_file("ofac", io.BytesIO(raw), actor="test")
    second = container.screening.import_file("ofac", io.BytesIO(raw), actor="test")
    with container.db.read() as s:  # the imports queued their runs and screened nobody
        assert list(s.scalars(select(ScreeningHit))) == []
    assert rescreens == [("ofac", first.snapshot_id), ("ofac", second.snapshot_id)]
    skipped = container.screening_monitor.rescreen(*rescreens.pop(0))
    assert (skipped.tenants, skipped.subjects, skipped.new_hits) == (0, 0, 0)
    run = container.screening_monitor.rescreen(*rescreens.pop(0))
    assert (run.tenants, run.new_hits) == (1, 1)
    with container.db.read() as s:
        assert [h.session_id for h in s.scalars(select(ScreeningHit))] == [sid]


@pytest.mark.hold_tasks("process_capture")  # the re-screening goes to the real queue
def test_a_worker_runs_the_rescreening_wired_in_bootstrap(container: Container) -> None:
    import time

    demo = container.tenants.find("demo").id
    container.screening.configure(demo, monitoring=True, actor="test")
    sid = approved_subject(container, "demo", "Igor", "Kasparovski")
    container.jobs.start_consumer(workers=1)
    try:
        container.screening.import_file("ofac", io.BytesIO((DATA / "sdn.xml").read_bytes()),
                                        actor="test")
        deadline = time.monotonic() + 60
        while True:
            with container.db.read() as s:
                hits = [h.session_id for h in s.scalars(select(ScreeningHit))]
            if hits or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        container.jobs.stop_consumer()
    assert hits == [sid]

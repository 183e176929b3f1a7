"""Console sessions list, CSV export without PII, the dashboard and /v1/analytics/summary."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.web.app import create_app
from tests.console_helpers import enroll_totp
from tests.helpers import ApiClient, bearer, get_token
from tests.review_support import duplicate_in_review, unreadable_in_review
from tests.task_log import TaskLog

SCOPES = "identity.verify identity.read_status identity.review analytics.read"

pytestmark = pytest.mark.hold_tasks("process_capture")


@pytest.fixture
def jobs(task_queue: TaskLog) -> list[tuple[str, ...]]:
    return task_queue.of("process_capture")


@pytest.fixture
def app(colour_container: Container, jobs):  # type: ignore[no-untyped-def]
    return create_app(colour_container)


@pytest.fixture
def api(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, client=("127.0.0.1", 50000), raise_server_exceptions=False) as tc:
        yield tc


@pytest.fixture
def auth(api, colour_container):  # type: ignore[no-untyped-def]
    issued = colour_container.clients.create("demo", SCOPES)
    return bearer(get_token(api, ApiClient(issued.client.id, issued.secret, "demo")))


def signed_in(app, container, clock, role: str) -> TestClient:  # type: ignore[no-untyped-def]
    issued = container.operators.create(f"{role}@example.com", role,
                                        None if role == "owner" else ["demo"])
    tc = TestClient(app, client=("127.0.0.1", 50000), raise_server_exceptions=False)
    enroll_totp(tc, issued.enrollment_url, clock)
    return tc


def test_list_search_and_csv_without_pii(api, auth, colour_container, jobs, app,
                                         clock) -> None:
    sid = unreadable_in_review(api, auth, colour_container, jobs, reference="+cmd:x")
    _, dup = duplicate_in_review(api, auth, colour_container, jobs)
    analyst = signed_in(app, colour_container, clock, "analyst")
    r = analyst.get("/console/sessions")
    assert r.status_code == 200 and sid in r.text and dup in r.text
    assert "TESTER" not in r.text
    r = analyst.get(f"/console/sessions?q={dup}")
    assert dup in r.text and sid not in r.text
    r = analyst.get("/console/sessions?reason=document_unreadable&status=in_review")
    assert sid in r.text and dup not in r.text
    assert analyst.get("/console/sessions?status=bogus").status_code == 422
    r = analyst.get("/console/sessions.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["id"] for row in rows} >= {sid, dup}
    assert "TESTER" not in r.text and "'+cmd:x" in r.text  # no formula injection
    r = analyst.get("/console/sessions.csv?columns=id,surname")
    assert r.status_code == 422 and "TESTER" not in r.text
    assert colour_container.audit.list(action="sessions.exported")
    # the analyst opens a session without images, fields or decisions
    page = analyst.get(f"/console/review/{dup}")
    assert page.status_code == 200 and "/images/" not in page.text and "Reveal" not in page.text
    # a role without sessions.list: 403 and no data
    dev = signed_in(app, colour_container, clock, "developer")
    for path in ("/console/sessions", "/console/dashboard", "/console/review",
                 f"/console/review/{dup}"):
        r = dev.get(path)
        assert r.status_code == 403 and dup not in r.text, path


def test_dashboard_and_analytics_api(api, auth, colour_container, jobs, app, clock) -> None:
    unreadable_in_review(api, auth, colour_container, jobs)
    duplicate_in_review(api, auth, colour_container, jobs)
    owner = signed_in(app, colour_container, clock, "owner")
    r = owner.get("/console/dashboard")
    assert r.status_code == 200 and r.text.count("<svg") == 3
    assert "Sessions by outcome" in r.text and "duplicate_document" in r.text
    r = api.get("/v1/analytics/summary", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sessions"]["started"] == 3 and body["sessions"]["in_review"] == 2
    assert body["sessions"]["approved"] == 1 and body["review"]["backlog"] == 2
    reasons = {x["reason"] for x in body["top_reasons"]}
    assert {"duplicate_document", "document_unreadable"} <= reasons
    assert body["time_to_decision_seconds"]["median"] is not None
    assert [f["step"] for f in body["funnel"]] == ["document"]
    no_scope = colour_container.clients.create("demo", "identity.read_status")
    tok = bearer(get_token(api, ApiClient(no_scope.client.id, no_scope.secret, "demo")))
    assert api.get("/v1/analytics/summary", headers=tok).status_code == 403
    r = api.get("/v1/analytics/summary?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z",
                headers=auth)
    assert r.status_code == 422

"""The review console without a browser: queue, case, images, reveal, take/release, decide."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.core.clock import FrozenClock
from idproof.verification.service import Actor
from idproof.web.app import create_app
from tests.console_helpers import csrf, enroll_totp, sign_in
from tests.helpers import bearer, get_token
from tests.review_support import duplicate_in_review, unreadable_in_review
from tests.task_log import TaskLog

SCOPES = "identity.verify identity.read_status identity.review"

pytestmark = pytest.mark.hold_tasks("process_capture")


@pytest.fixture
def jobs(task_queue: TaskLog) -> list[tuple[str, ...]]:
    return task_queue.of("process_capture")


@pytest.fixture
def app(colour_container: Container, jobs):  # type: ignore[no-untyped-def]
    return create_app(colour_container)


def browser(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, client=("127.0.0.1", 50000), raise_server_exceptions=False)


@pytest.fixture
def api(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with browser(app) as tc:
        yield tc


@pytest.fixture
def make_client(colour_container: Container):  # type: ignore[no-untyped-def]
    from tests.helpers import ApiClient

    def make(tenant: str = "demo", scopes: str = SCOPES) -> ApiClient:
        if colour_container.tenants.find(tenant) is None:
            colour_container.tenants.create(tenant)
        issued = colour_container.clients.create(tenant, scopes)
        return ApiClient(issued.client.id, issued.secret, tenant)
    return make


@pytest.fixture
def auth(api, make_client):  # type: ignore[no-untyped-def]
    return bearer(get_token(api, make_client()))


def operator(app, container: Container, clock: FrozenClock, email: str, role: str,
             tenants: list[str] | None = None) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    issued = container.operators.create(email, role, tenants)
    tc = browser(app)
    SECRETS[email], _ = enroll_totp(tc, issued.enrollment_url, clock)
    return tc, issued.operator.id


SECRETS: dict[str, str] = {}


def decide(tc: TestClient, sid: str, **form) -> object:  # type: ignore[no-untyped-def]
    page = tc.get(f"/console/review/{sid}")
    version = re.search(r'name="version" value="([^"]+)"', page.text)
    data = {"csrf_token": csrf(page.text), "version": version.group(1) if version else "",
            **form}
    return tc.post(f"/console/review/{sid}/decide", data=data)


def test_review_a_duplicate_from_queue_to_decision(api, auth, colour_container, jobs, app,
                                                   clock) -> None:
    colour_container.tenants.set_image_retention("demo", 3 * 86400)
    _, dup = duplicate_in_review(api, auth, colour_container, jobs)
    rev, rev_id = operator(app, colour_container, clock, "rev@example.com", "reviewer",
                           ["demo"])
    q = rev.get("/console/review")
    assert q.status_code == 200 and dup in q.text and "duplicate_document" in q.text
    assert q.headers["cache-control"] == "no-store"
    # overdue after the SLA (24 h by default)
    clock.advance(25 * 3600)
    sign_in(rev, "rev@example.com", SECRETS["rev@example.com"], clock)
    q = rev.get("/console/review?overdue=1")
    assert dup in q.text and "Overdue" in q.text
    assert dup not in rev.get("/console/review?reason=presentation_attack").text
    case = rev.get(f"/console/review/{dup}")
    assert case.status_code == 200
    assert "session.document_processed" in case.text and "duplicate_document" in case.text
    assert "TESTER" not in case.text  # fields masked
    img = re.search(rf'src="(/console/review/{dup}/images/cap_[^"]+)"', case.text)
    assert img, case.text
    r = rev.get(img.group(1))
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "no-store"
    assert r.content[:2] == b"\xff\xd8"
    assert colour_container.audit.list(action="session.image_viewed")
    # no purpose, no data
    r = rev.post(f"/console/review/{dup}/reveal", data={"csrf_token": csrf(case.text)})
    assert r.status_code == 422 and "TESTER" not in r.text
    # an old second factor: step-up first
    clock.advance(400)
    r = rev.post(f"/console/review/{dup}/reveal",
                 data={"csrf_token": csrf(case.text), "purpose": "duplicate check"})
    assert r.url.path == "/console/step-up" and "TESTER" not in r.text
    # take, release, take
    r = rev.post(f"/console/review/{dup}/take", data={"csrf_token": csrf(case.text)})
    assert r.status_code == 200 and "you" in r.text
    assert dup in rev.get("/console/review?assigned=me").text
    r = rev.post(f"/console/review/{dup}/release", data={"csrf_token": csrf(case.text)})
    assert dup in rev.get("/console/review?assigned=none").text
    # a decline without a reason, a stale form
    r = decide(rev, dup, decision="declined")
    assert r.status_code == 422 and "at least one reason" in r.text
    page = rev.get(f"/console/review/{dup}")
    colour_container.sessions.set_review_settings(Actor(tenant_id=colour_container.tenants
                                                        .find("demo").id), sla_hours=24,
                                                  four_eyes=False)
    stale = {"csrf_token": csrf(page.text), "version": "0" * 16, "decision": "approved"}
    r = rev.post(f"/console/review/{dup}/decide", data=stale)
    assert r.status_code == 409 and "Nothing was saved" in r.text
    note = "<script>alert(1)</script> same holder"
    r = decide(rev, dup, decision="declined", reasons=["duplicate_document"], note=note)
    assert r.status_code == 200 and "now declined" in r.text, r.text
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;alert(1)" in r.text
    (ev,) = colour_container.audit.list(action="session.reviewed")
    assert ev.actor_type == "operator" and ev.actor_id == rev_id and ev.details["note"] == note
    demo = colour_container.tenants.find("demo").id
    assert colour_container.sessions.get(demo, dup).status == "declined"
    assert dup not in rev.get("/console/review").text


def test_reveal_with_purpose_is_audited(api, auth, colour_container, jobs, app,
                                        clock) -> None:
    sid = unreadable_in_review(api, auth, colour_container, jobs)
    _, dup = duplicate_in_review(api, auth, colour_container, jobs)
    rev, rev_id = operator(app, colour_container, clock, "rev@example.com", "reviewer",
                           ["demo"])
    page = rev.get(f"/console/review/{dup}")
    r = rev.post(f"/console/review/{dup}/reveal",
                 data={"csrf_token": csrf(page.text), "purpose": "duplicate check"})
    assert r.status_code == 200 and "TESTER" in r.text and "duplicate check" in r.text
    (ev,) = colour_container.audit.list(action="session.pii_read")
    assert ev.actor_type == "operator" and ev.actor_id == rev_id
    assert ev.purpose == "duplicate check"
    assert sid in rev.get("/console/review").text


def test_roles_tenants_and_assignment(api, auth, colour_container, jobs, app, clock,
                                      make_client) -> None:
    colour_container.tenants.set_image_retention("demo", 3600)
    _, dup = duplicate_in_review(api, auth, colour_container, jobs)
    analyst, _ = operator(app, colour_container, clock, "an@example.com", "analyst", ["demo"])
    r = analyst.get("/console/review")
    assert r.status_code == 403 and dup not in r.text
    case = analyst.get(f"/console/review/{dup}")
    assert case.status_code == 200 and "/images/" not in case.text and "Reveal" not in case.text
    assert "Submit decision" not in case.text
    make_client(tenant="acme")
    other, _ = operator(app, colour_container, clock, "acme@example.com", "reviewer",
                        ["acme"])
    assert other.get(f"/console/review/{dup}").status_code == 404
    assert dup not in other.get("/console/review").text
    page = other.get("/console/review")
    r = other.post(f"/console/review/{dup}/decide",
                   data={"csrf_token": csrf(page.text), "decision": "approved"})
    assert r.status_code == 404
    # an assigned-only reviewer sees only its cases
    limited = colour_container.operators.create("lim@example.com", "reviewer", ["demo"],
                                                assigned_only=True)
    lim = browser(app)
    enroll_totp(lim, limited.enrollment_url, clock)
    assert dup not in lim.get("/console/review").text
    assert lim.get(f"/console/review/{dup}").status_code == 404
    boss, _ = operator(app, colour_container, clock, "boss@example.com", "owner")
    page = boss.get(f"/console/review/{dup}")
    r = boss.post(f"/console/review/{dup}/assign",
                  data={"csrf_token": csrf(page.text), "operator": limited.operator.id})
    assert r.status_code == 200, r.text
    assert dup in lim.get("/console/review").text
    assert lim.get(f"/console/review/{dup}").status_code == 200
    # CSRF on every POST
    r = boss.post(f"/console/review/{dup}/release", data={"csrf_token": "x"})
    assert r.status_code == 403


def test_four_eyes_in_the_console(api, auth, colour_container, jobs, app, clock) -> None:
    colour_container.sessions.set_review_settings(
        Actor(tenant_id=colour_container.tenants.find("demo").id), sla_hours=24,
        four_eyes=True)
    _, dup = duplicate_in_review(api, auth, colour_container, jobs)
    a, _ = operator(app, colour_container, clock, "a@example.com", "reviewer", ["demo"])
    b, _ = operator(app, colour_container, clock, "b@example.com", "reviewer", ["demo"])
    r = decide(a, dup, decision="declined", reasons=["duplicate_document"])
    assert r.status_code == 200 and "second reviewer must confirm" in r.text
    assert "awaiting 2nd reviewer" in a.get("/console/review").text
    r = decide(a, dup, decision="declined", reasons=["duplicate_document"])
    assert r.status_code == 409 and "second reviewer" in r.text
    r = decide(b, dup, decision="declined", reasons=["duplicate_document"])
    assert r.status_code == 200 and "now declined" in r.text

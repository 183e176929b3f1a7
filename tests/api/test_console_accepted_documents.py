"""Console tenant settings, accepted documents: admin only, CSRF, validated (unknown codes
named, nothing saved), audited, and saved by compare-and-set in one transaction (two admins
saving at once: one success, one conflict)."""

from __future__ import annotations

import re
import threading
from typing import Any

from sqlalchemy import event
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.verification.document.accepted import EVERYTHING, AcceptedDocuments
from idproof.web.app import create_app
from tests.console_helpers import enroll_totp

URL = "/console/settings?tenant=demo"


def operator(container: Container, clock, role: str, email: str) -> TestClient:  # type: ignore[no-untyped-def]
    issued = container.operators.create(email, role, ["demo"])
    tc = TestClient(create_app(container), client=("127.0.0.1", 50000),
                    raise_server_exceptions=False)
    enroll_totp(tc, issued.enrollment_url, clock)
    return tc


def form_of(page: str, **changes: Any) -> dict[str, Any]:
    """The form as a browser would send it: text fields, ticked boxes, hidden fields."""
    fields: dict[str, Any] = dict(re.findall(
        r'<input type="(?:hidden|number|text)" name="([a-z_]+)"[^>]*value="([^"]*)"', page))
    if re.search(r'name="four_eyes" value="true" checked', page):
        fields["four_eyes"] = "true"
    ticked = re.findall(r'value="([a-z_]+)" name="document_types" checked', page)
    if ticked:
        fields["document_types"] = ticked
    return {**fields, **changes}


def accepted_of(container: Container) -> AcceptedDocuments:
    return container.sessions.accepted_documents(container.tenants.get("demo").id)


def test_admin_sets_accepted_documents_audited(container, clock) -> None:
    admin = operator(container, clock, "admin", "admin@example.com")
    page = admin.get(URL)
    assert page.status_code == 200 and "Accepted documents" in page.text
    assert accepted_of(container) == EVERYTHING  # the default: every document
    r = admin.post(URL, data=form_of(page.text, countries="fra, deu",
                                     document_types=["passport", "id_card"]))
    assert r.status_code == 200 and "Settings saved" in r.text, r.text
    assert accepted_of(container) == AcceptedDocuments(("DEU", "FRA"), ("passport", "id_card"))
    # the page shows what is stored
    assert 'name="countries" value="DEU FRA"' in r.text
    assert 'value="passport" name="document_types" checked' in r.text
    assert 'value="visa" name="document_types">' in r.text
    (ev,) = container.audit.list(action="tenant.accepted_documents_changed")
    assert ev.actor_type == "operator" and ev.details == {
        "countries": ["DEU", "FRA"], "document_types": ["passport", "id_card"],
        "countries_before": [], "document_types_before": []}
    # saving the same values again writes nothing and audits nothing
    r = admin.post(URL, data=form_of(r.text))
    assert r.status_code == 200 and "Settings saved" in r.text
    assert len(container.audit.list(action="tenant.accepted_documents_changed")) == 1
    # emptied: every document again
    r = admin.post(URL, data=form_of(r.text, countries="", document_types=[]))
    assert r.status_code == 200 and accepted_of(container) == EVERYTHING


def test_unknown_codes_are_named_and_nothing_is_saved(container, clock) -> None:
    admin = operator(container, clock, "admin", "admin@example.com")
    page = admin.get(URL).text
    demo = container.tenants.get("demo").id
    for bad, text in (({"countries": "FRA XKX zz"}, "unknown issuing country code (XKX, ZZ)"),
                      ({"countries": "<script>alert(1)</script>"},
                       "unknown issuing country code ()"),
                      ({"document_types": ["passport", "library_card"]},
                       "unknown document type (library_card)")):
        # a valid change in the same form is not saved either
        r = admin.post(URL, data=form_of(page, sla_hours="9", **bad))
        assert r.status_code == 422 and "Nothing was saved" in r.text, bad
        assert text in r.text and "<script>" not in r.text
        assert accepted_of(container) == EVERYTHING
        assert container.sessions.review_settings(demo).sla_hours == 24
    assert container.audit.list(action="tenant.accepted_documents_changed") == []
    assert container.audit.list(action="tenant.review_settings_changed") == []


def test_only_admins_and_owners_see_or_change_settings(container, clock) -> None:
    admin = operator(container, clock, "admin", "admin@example.com")
    page = admin.get(URL).text
    for role in ("reviewer", "analyst", "developer", "auditor"):
        tc = operator(container, clock, role, f"{role}@example.com")
        r = tc.get(URL)
        assert r.status_code == 403 and "Accepted documents" not in r.text, role
        r = tc.post(URL, data=form_of(page, countries="FRA"))
        assert r.status_code == 403, role
    # CSRF: the admin's own form without its token changes nothing
    r = admin.post(URL, data={k: v for k, v in form_of(page, countries="FRA").items()
                              if k != "csrf_token"})
    assert r.status_code == 403
    assert accepted_of(container) == EVERYTHING


def test_a_stale_form_is_refused_whole(container, clock) -> None:
    admin = operator(container, clock, "admin", "admin@example.com")
    page = admin.get(URL).text
    assert admin.post(URL, data=form_of(page, countries="ITA")).status_code == 200
    r = admin.post(URL, data=form_of(page, countries="ESP", document_types=["visa"]))
    assert r.status_code == 409 and "Someone changed these settings" in r.text
    assert accepted_of(container) == AcceptedDocuments(("ITA",), ())


def test_two_admins_saving_at_once_one_wins(container, clock) -> None:
    """Both forms carry the same fingerprint. The first save is held inside its transaction
    (after its check, at its write) while the second is sent: the second must wait for it
    and then see the change (a conflict), not pass a check made before the first wrote.
    With the check outside the transaction this fails on PostgreSQL (both pass the check);
    on SQLite one process queues its writers on a lock the sign-in check also takes, which
    hides the race here but not between two server processes."""
    first = operator(container, clock, "admin", "one@example.com")
    second = operator(container, clock, "admin", "two@example.com")
    page, page2 = first.get(URL).text, second.get(URL).text
    inside, go_on = threading.Event(), threading.Event()
    holder: dict[str, int] = {}

    def hold(conn, cursor, statement, parameters, *args) -> None:  # type: ignore[no-untyped-def]
        # the first admin's write (the request runs on a worker thread: known by its value)
        if statement.lstrip().startswith("INSERT INTO tenant_accepted_documents") \
                and "FRA" in str(parameters):
            inside.set()
            go_on.wait(30)

    def post(tc: TestClient, name: str, data: dict[str, Any]) -> None:
        holder[name] = tc.post(URL, data=data).status_code

    engine = container.db.engine
    event.listen(engine, "before_cursor_execute", hold)
    try:
        a = threading.Thread(target=post, args=(first, "first", form_of(page, countries="FRA")))
        b = threading.Thread(target=post, args=(second, "second",
                                                form_of(page2, countries="DEU")))
        a.start()
        assert inside.wait(30)
        b.start()
        b.join(0.5)  # the second is waiting for the first's transaction (or lost the race)
        go_on.set()
        a.join(30)
        b.join(30)
    finally:
        go_on.set()
        event.remove(engine, "before_cursor_execute", hold)
    assert holder == {"first": 200, "second": 409}
    assert accepted_of(container) == AcceptedDocuments(("FRA",), ())
    assert len(container.audit.list(action="tenant.accepted_documents_changed")) == 1

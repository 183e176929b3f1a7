"""A tenant's accepted documents enforced: a real synthetic passport (read by the real reader)
from a country or of a type the tenant does not accept is declined with
`document_not_accepted` whatever the workflow's rules; an accepted one, or a tenant without
settings, is unaffected; the hosted page offers only what the tenant accepts and stops early."""

from __future__ import annotations

import io
from datetime import date

import pytest
from PIL import Image

from idproof.bootstrap import Container
from idproof.testing import DocumentGenerator
from idproof.testing.documents import SyntheticDocument
from idproof.verification.document.accepted import accepted
from idproof.verification.service import Actor
from tests.api.test_hosted import consent, csrf_of
from tests.helpers import bearer, get_token
from tests.task_log import TaskLog

pytestmark = pytest.mark.hold_tasks("process_capture")
# Drawn as of a fixed day (tests/api/test_sessions_lifecycle.py: this seed's passport reads).
DRAWN_ON = date(2026, 6, 1)
SCOPES = "identity.verify identity.read_status"


@pytest.fixture(scope="module")
def passport() -> SyntheticDocument:
    return DocumentGenerator(seed=7, today=DRAWN_ON).passport()


def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def accept(container: Container, tenant: str, countries: list[str], types: list[str]) -> None:
    tid = container.tenants.get(tenant).id
    with container.db.session() as s:
        container.sessions.set_accepted_documents(
            s, Actor(tenant_id=tid, client_id="opr_test", actor_type="operator"),
            accepted(countries, types))


def run_jobs(container: Container, task_queue: TaskLog) -> None:
    held = task_queue.of("process_capture")
    pending, held[:] = list(held), []
    for sid, cid in pending:
        container.captures.process(sid, cid)


def other_country(code: str) -> str:
    return "ITA" if code != "ITA" else "ESP"


def _session(api, auth, workflow: str, front: bytes) -> str:  # type: ignore[no-untyped-def]
    sid = api.post("/v1/sessions", json={"reference": "u-1", "workflow": workflow},
                   headers=auth).json()["id"]
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("p.jpg", front, "image/jpeg")}, headers=auth)
    assert r.status_code == 202, r.text
    return str(sid)


def test_a_document_the_tenant_does_not_accept_is_declined(
        api, make_client, container, task_queue, passport) -> None:  # type: ignore[no-untyped-def]
    country = passport.identity.issuing_country
    front = jpeg(passport.front)
    # Each case in a tenant of its own (the same document twice in one tenant is a duplicate).
    cases = {"by_country": ([other_country(country)], []),
             "by_type": ([], ["id_card", "driving_licence"]),
             "accepted": ([country, "GBR"], ["passport"]),
             "default": None}
    found = {}
    for tenant, setting in cases.items():
        auth = bearer(get_token(api, make_client(tenant=tenant, scopes=SCOPES)))
        if setting is not None:
            accept(container, tenant, *setting)
        sid = _session(api, auth, "document_only", front)
        run_jobs(container, task_queue)
        body = api.get(f"/v1/sessions/{sid}", headers=auth).json()
        assert body["steps"][0]["state"] in {"passed", "failed"}, body  # read, no retake
        submitted = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
        assert submitted.status_code == 200, submitted.text
        found[tenant] = (submitted.json()["status"], body["steps"][0]["reasons"],
                         api.get(f"/v1/sessions/{sid}/decision", headers=auth).json())
    for tenant in ("by_country", "by_type"):
        status, reasons, decision = found[tenant]
        assert status == "declined" and reasons == ["document_not_accepted"], found[tenant]
        assert decision["reasons"] == ["document_not_accepted"]
        assert decision["document_valid"] is False
    for tenant in ("accepted", "default"):
        status, reasons, decision = found[tenant]
        assert status == "approved" and reasons == [], found[tenant]
        assert decision["document_valid"] is True


def test_a_hard_decline_needs_no_selfie_over_the_api(
        api, make_client, container, task_queue, passport) -> None:  # type: ignore[no-untyped-def]
    auth = bearer(get_token(api, make_client(scopes=SCOPES)))
    accept(container, "demo", [other_country(passport.identity.issuing_country)], [])
    sid = _session(api, auth, "kyc_standard", jpeg(passport.front))
    run_jobs(container, task_queue)
    # the selfie and liveness are still pending, yet nothing they show could change it
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "declined", r.text
    reasons = api.get(f"/v1/sessions/{sid}/decision", headers=auth).json()["reasons"]
    assert reasons[0] == "document_not_accepted"


def _hosted(api, make_client, workflow: str, locale: str = "en"):  # type: ignore[no-untyped-def]
    auth = bearer(get_token(api, make_client(scopes=SCOPES)))
    r = api.post("/v1/sessions", json={"reference": "u-1", "workflow": workflow,
                                       "locale": locale}, headers=auth)
    assert r.status_code == 201, r.text
    sid, path = r.json()["id"], r.json()["url"].removeprefix("http://testserver")
    page = api.get(path)
    assert page.status_code == 200, page.text
    assert consent(api, page.text).status_code == 303
    return auth, sid


def _options(page: str, select: str) -> list[str]:
    body = page.split(f'<select id="{select}"', 1)[1].split("</select>", 1)[0]
    import re

    return re.findall(r'<option value="([^"]*)"', body)


def test_the_hosted_page_offers_only_what_the_tenant_accepts(
        api, make_client, container) -> None:  # type: ignore[no-untyped-def]
    _auth, _sid = _hosted(api, make_client, "kyc_standard")
    page = api.get("/verify/s").text
    assert 'data-page="document"' in page
    # no settings: every type the workflow offers, every issuing country, and "Other"
    assert _options(page, "document_type") == ["passport", "id_card", "driving_licence",
                                               "residence_permit"]
    everything = _options(page, "country")
    assert everything[0] == "" and "Other / not listed" in page and len(everything) > 200
    accept(container, "demo", ["FRA", "USA", "DEU"], ["passport", "id_card", "visa"])
    api.cookies.clear()
    _auth, _sid = _hosted(api, make_client, "kyc_standard", locale="de")
    page = api.get("/verify/s").text
    # visa: accepted by the tenant but not offered by the workflow
    assert _options(page, "document_type") == ["passport", "id_card"]
    # only the accepted countries, named in the page's language, each with the types it
    # issues among those (the United States issue no identity card with a zone)
    assert _options(page, "country") == ["", "DEU", "FRA", "USA"]
    assert ">Deutschland</option>" in page and ">Frankreich</option>" in page
    assert 'value="USA" data-types="passport">' in page
    assert 'value="FRA" data-types="passport id_card">' in page
    assert "Anderes / nicht aufgeführt" not in page  # no "Other / not listed"
    assert '<select id="country" name="country" required>' in page
    assert "Ausstellungsland wählen" in page
    # a type or country the page did not offer is refused before anything is stored
    csrf = csrf_of(page)
    for bad in ({"document_type": "driving_licence", "country": "USA"},
                {"document_type": "passport", "country": "ITA"}):
        r = api.post("/verify/s/documents", data={"csrf_token": csrf, **bad},
                     files={"front": ("p.jpg", jpeg(Image.new("RGB", (640, 400))),
                                      "image/jpeg")})
        assert r.status_code == 422, bad
    assert container.audit.list(action="session.document_uploaded") == []


def test_the_hosted_flow_stops_at_a_document_not_accepted(
        api, make_client, container, task_queue, passport) -> None:  # type: ignore[no-untyped-def]
    allowed = other_country(passport.identity.issuing_country)
    accept(container, "demo", [allowed], ["passport"])
    auth, sid = _hosted(api, make_client, "kyc_standard", locale="fr")
    csrf = csrf_of(api.get("/verify/s").text)
    # the person picks an accepted country; the document itself says otherwise
    r = api.post("/verify/s/documents",
                 data={"csrf_token": csrf, "document_type": "passport", "country": allowed},
                 files={"front": ("p.jpg", jpeg(passport.front), "image/jpeg")},
                 follow_redirects=False)
    assert r.status_code == 303, r.text
    run_jobs(container, task_queue)
    page = api.get("/verify/s").text
    assert 'data-page="done"' in page, page
    assert "Ce service n&#39;accepte pas ce document" in page \
        or "Ce service n'accepte pas ce document" in page
    assert "acceptée par ce service" in page  # the advice
    steps = {st["step"]: st for st in api.get(f"/v1/sessions/{sid}",
                                              headers=auth).json()["steps"]}
    assert steps["document"]["reasons"] == ["document_not_accepted"]
    assert steps["selfie"]["reasons"] == ["not_attempted"]
    assert api.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "declined"
    (event,) = container.audit.list(action="hosted.stopped_early")
    assert event.details == {"reasons": ["document_not_accepted"],
                             "not_attempted": ["selfie", "liveness"]}

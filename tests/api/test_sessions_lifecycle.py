"""A whole verification with the worker running: upload, read, decide, read PII, erase."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from datetime import date, timedelta

import pytest
from PIL import Image

from idproof.testing import DocumentGenerator
from tests.helpers import bearer, get_token

pytestmark = pytest.mark.slow
# Documents expected to be read are drawn as of a fixed day (they stay valid for years): drawn
# as of today, their random content changed every day, and so did whether a given day's
# document was readable. How often the reader asks for a retake is bench/documents.py's job.
DRAWN_ON = date(2026, 6, 1)
SCOPES = "identity.verify identity.read_status identity.read_pii identity.delete"


def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=92)
    return buf.getvalue()


@pytest.fixture
def worker(container):
    container.jobs.start_consumer(workers=1)
    yield container
    container.jobs.stop_consumer()


@pytest.fixture
def auth(api, make_client):
    return bearer(get_token(api, make_client(scopes=SCOPES)))


def wait_for(api, auth, sid, pred, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/v1/sessions/{sid}", headers=auth).json()
        if pred(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"timed out; last state {body}")


def doc_state(body):
    return body["steps"][0]["state"]


def test_passport_approved_then_erased(api, auth, worker, container, clock) -> None:
    gen = DocumentGenerator(seed=7, today=DRAWN_ON)
    passport = gen.passport()
    sid = api.post("/v1/sessions", json={"reference": "u-1", "workflow": "document_only"},
                   headers=auth).json()["id"]
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("p.jpg", jpeg(passport.front), "image/jpeg")}, headers=auth)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "in_progress"
    body = wait_for(api, auth, sid, lambda b: doc_state(b) not in {"processing"})
    assert doc_state(body) == "passed", body
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    d = api.get(f"/v1/sessions/{sid}/decision", headers=auth).json()
    assert d["is_verified"] and d["document_valid"] and d["age_over_18"] is not None
    # the decision and its webhook-safe view carry no personal data
    assert passport.identity.surname not in str(d)
    assert passport.identity.document_number not in str(d)
    # raw images are gone at decision
    blobs = container.captures._blobs
    assert [p.name for p in blobs.root.rglob("*") if p.is_file()] == []
    # PII with a purpose, audited
    r = api.get(f"/v1/sessions/{sid}/data", headers=auth)
    assert r.status_code == 422 and r.json()["code"] == "purpose_required"
    r = api.get(f"/v1/sessions/{sid}/data?purpose=kyc%20review", headers=auth)
    assert r.status_code == 200
    data = r.json()["document"]
    assert data["surname"] == passport.identity.surname
    assert data["document_number_token"].startswith("tok_")
    assert data["birth_date"] == passport.identity.birth_date.isoformat()
    events = [(e.action, e.purpose) for e in container.audit.list(action="session.pii_read")]
    assert events == [("session.pii_read", "kyc review")]
    # erase: 404 afterwards, key shredded
    assert api.delete(f"/v1/sessions/{sid}", headers=auth).status_code == 204
    assert api.get(f"/v1/sessions/{sid}", headers=auth).status_code == 404
    assert api.get(f"/v1/sessions/{sid}/data?purpose=x", headers=auth).status_code == 404
    actions = {e.action for e in container.audit.list(limit=1000)}
    assert {"session.erased", "crypto.subject_key_shredded"} <= actions


def test_expired_document_declined_and_duplicate_flagged(api, auth, worker, clock) -> None:
    today = clock.now().date()
    gen = DocumentGenerator(seed=11, today=today)
    ident = gen.identity()
    expired = gen.passport(replace(ident, expiry_date=today - timedelta(days=3),
                                   issue_date=today - timedelta(days=3650)))
    sid = api.post("/v1/sessions", json={"reference": "u-2", "workflow": "document_only"},
                   headers=auth).json()["id"]
    api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
             files={"file": ("p.jpg", jpeg(expired.front), "image/jpeg")}, headers=auth)
    body = wait_for(api, auth, sid, lambda b: doc_state(b) != "processing")
    assert body["steps"][0]["reasons"] == ["document_expired"]
    body = api.post(f"/v1/sessions/{sid}/submit", headers=auth).json()
    assert body["status"] == "declined"
    # the same document in a second session of the tenant is a duplicate
    sid2 = api.post("/v1/sessions", json={"reference": "u-3", "workflow": "document_only"},
                    headers=auth).json()["id"]
    api.post(f"/v1/sessions/{sid2}/documents", data={"side": "front"},
             files={"file": ("p.jpg", jpeg(expired.front), "image/jpeg")}, headers=auth)
    body = wait_for(api, auth, sid2, lambda b: doc_state(b) != "processing")
    assert "duplicate_document" in body["steps"][0]["reasons"]


def test_unreadable_photo_asks_for_a_retake(api, auth, worker) -> None:
    sid = api.post("/v1/sessions", json={"reference": "u-4", "workflow": "document_only"},
                   headers=auth).json()["id"]
    blank = Image.new("RGB", (800, 600), (200, 180, 160))
    api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
             files={"file": ("x.jpg", jpeg(blank), "image/jpeg")}, headers=auth)
    body = wait_for(api, auth, sid, lambda b: doc_state(b) != "processing")
    assert doc_state(body) == "retry" and body["steps"][0]["reasons"] == ["document_unreadable"]


def test_upload_refusals_change_nothing(api, auth, make_client, container) -> None:
    sid = api.post("/v1/sessions", json={"reference": "u-5", "workflow": "document_only"},
                   headers=auth).json()["id"]
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("x.pdf", b"%PDF-1.4 not an image", "application/pdf")},
                 headers=auth)
    assert r.status_code == 415 and r.json()["code"] == "unsupported_image_type"
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "middle"},
                 files={"file": ("x.jpg", jpeg(Image.new("RGB", (100, 100))), "image/jpeg")},
                 headers=auth)
    assert r.status_code == 422 and r.json()["code"] == "invalid_side"
    other = bearer(get_token(api, make_client(tenant="acme", scopes=SCOPES)))
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("x.jpg", jpeg(Image.new("RGB", (100, 100))), "image/jpeg")},
                 headers=other)
    assert r.status_code == 404
    body = api.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert body["status"] == "not_started" and body["steps"][0]["attempts"] == 0
    assert not any(p.is_file() for p in container.captures._blobs.root.rglob("*"))


@pytest.mark.hold_tasks("process_capture")
def test_sweep_requeues_lost_jobs_and_deletes_due_images(api, auth, container, clock,
                                                         make_client, task_queue) -> None:
    """No worker running: the job is 'lost'; the sweep re-queues it once it is stuck."""
    seen = task_queue.of("process_capture")
    sid = api.post("/v1/sessions", json={"reference": "u-6", "workflow": "document_only",
                                         "expires_in": 600}, headers=auth).json()["id"]
    api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
             files={"file": ("x.jpg", jpeg(Image.new("RGB", (300, 200))), "image/jpeg")},
             headers=auth)
    assert len(seen) == 1
    assert container.captures.sweep()["requeued"] == 0
    clock.advance(180)
    assert container.captures.sweep()["requeued"] == 1 and seen[1] == seen[0]
    clock.advance(600)
    result = container.captures.sweep()
    assert result["images_deleted"] == 1 and result["expired"] == 1
    assert not any(p.is_file() for p in container.captures._blobs.root.rglob("*"))
    # the person began (a capture) and never submitted: abandoned, not merely expired
    fresh = bearer(get_token(api, make_client(scopes=SCOPES)))  # the first token has expired
    assert api.get(f"/v1/sessions/{sid}", headers=fresh).json()["status"] == "abandoned"
    assert [e.action for e in container.audit.list(action="session.abandoned")] == [
        "session.abandoned"]
    assert date.today()  # the clock is frozen, the wall clock is not used


@pytest.mark.parametrize("canadian", [False, True])
def test_driving_licence_read_from_its_barcode(api, auth, worker, clock, canadian) -> None:
    gen = DocumentGenerator(seed=23, today=clock.now().date())
    licence = gen.us_licence(canadian=canadian)
    sid = api.post("/v1/sessions", json={"reference": "u-dl", "workflow": "document_only"},
                   headers=auth).json()["id"]
    for side, img in (("front", licence.front), ("back", licence.back)):
        r = api.post(f"/v1/sessions/{sid}/documents", data={"side": side},
                     files={"file": (f"{side}.jpg", jpeg(img), "image/jpeg")}, headers=auth)
        assert r.status_code == 202, r.text
    body = wait_for(api, auth, sid, lambda b: doc_state(b) not in {"processing", "pending"})
    assert doc_state(body) == "passed", body
    assert api.post(f"/v1/sessions/{sid}/submit", headers=auth).json()["status"] == "approved"
    data = api.get(f"/v1/sessions/{sid}/data?purpose=kyc", headers=auth).json()["document"]
    assert data["document_type"] == "driving_licence"
    assert data["surname"] == licence.identity.surname
    assert data["birth_date"] == licence.identity.birth_date.isoformat()
    assert data["issuing_country"] == ("CAN" if canadian else "USA")
    # a front and its back are one attempt, not two
    assert api.get(f"/v1/sessions/{sid}", headers=auth).json()["steps"][0]["attempts"] == 1


def test_tenant_retention_keeps_images_after_decision_until_the_sweep(
        api, auth, worker, container, clock, make_client) -> None:
    container.tenants.set_image_retention("demo", 3600)
    passport = DocumentGenerator(seed=31, today=DRAWN_ON).passport()
    sid = api.post("/v1/sessions", json={"reference": "u-ret", "workflow": "document_only"},
                   headers=auth).json()["id"]
    api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
             files={"file": ("p.jpg", jpeg(passport.front), "image/jpeg")}, headers=auth)
    wait_for(api, auth, sid, lambda b: doc_state(b) != "processing")
    assert api.post(f"/v1/sessions/{sid}/submit", headers=auth).json()["status"] == "approved"
    blobs = container.captures._blobs
    assert len([p for p in blobs.root.rglob("*") if p.is_file()]) == 1  # kept for review
    clock.advance(3599)
    assert container.captures.sweep()["images_deleted"] == 0
    clock.advance(2)
    assert container.captures.sweep()["images_deleted"] == 1
    assert not any(p.is_file() for p in blobs.root.rglob("*"))

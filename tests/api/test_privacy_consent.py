"""Consent records: versioned texts per tenant and locale, acceptances kept with their IP
(cut to the network after 30 days), exported with the subject, and withdrawal (a cancelled
upload, erasure per policy)."""

from __future__ import annotations

import json

import pyrage
import pytest
from sqlalchemy import select

from idproof.core.errors import IdproofError
from idproof.privacy.models import ConsentGrant
from idproof.privacy.package import verify_zip
from tests.api.test_hosted import ORIGIN, consent, csrf_of, jpeg, opened
from tests.helpers import bearer, get_token

DAY = 86_400


@pytest.fixture
def auth(api, make_client):  # type: ignore[no-untyped-def]
    return bearer(get_token(api, make_client(
        scopes="identity.verify identity.read_status privacy.manage",
        allowed_origins=[ORIGIN])))


def test_acceptance_stored_versioned_exported_and_ip_truncated(api, auth, container,
                                                               clock) -> None:
    tenant = container.tenants.get("demo").id
    container.consents.publish(tenant, "en", "2026-12", "We check your document ...")
    with pytest.raises(IdproofError) as exc:
        container.consents.publish(tenant, "en", "2026-12", "changed")
    assert exc.value.code == "consent_version_exists"
    assert container.consents.current(tenant, "en-GB").version == "2026-12"  # type: ignore[union-attr]
    sid, _path, page = opened(api, auth, reference="user-c")
    assert consent(api, page.text).status_code == 303
    with container.db.read() as s:
        (grant,) = s.scalars(select(ConsentGrant).where(ConsentGrant.session_id == sid))
        assert (grant.text_version, grant.locale, grant.ip) == ("2026-12", "en", "127.0.0.1")

    ident = pyrage.x25519.Identity.generate()
    r = api.post("/v1/subjects/user-c/export", headers=auth,
                 json={"purpose": "art. 15", "recipient": str(ident.to_public())})
    data = json.loads(verify_zip(pyrage.decrypt(r.content, [ident]))["subject.json"])
    assert data["sessions"][0]["consents"][0]["text_version"] == "2026-12"

    clock.advance(29 * DAY)
    assert container.retention.purge(dry_run=True).ips_truncated == 0
    clock.advance(2 * DAY)
    assert container.retention.purge().ips_truncated == 1
    with container.db.read() as s:
        grant = s.scalars(select(ConsentGrant)).one()
        assert grant.ip == "127.0.0.0/24" and grant.ip_truncated


def test_withdrawal_during_upload_cancels_and_erases(api, auth, container) -> None:
    sid, _path, page = opened(api, auth, reference="user-w")
    assert consent(api, page.text).status_code == 303
    r = api.post("/v1/subjects/user-w/withdraw-consent", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cancelled"] == [sid] and body["erased"] == [sid] and body["kept"] == []
    # the upload that was on its way (this browser's cookie and CSRF token) finds nothing
    r = api.post("/verify/s/documents", data={"csrf_token": csrf_of(page.text),
                                              "document_type": "passport"},
                 files={"front": ("d.jpg", jpeg(), "image/jpeg")}, follow_redirects=False)
    assert r.status_code == 401 and "Your session has ended" in r.text
    assert api.get(f"/v1/sessions/{sid}", headers=auth).status_code == 404
    with container.db.read() as s:
        assert s.scalars(select(ConsentGrant)).all() == []
    (ev,) = container.audit.list(action="privacy.consent_withdrawn")
    assert ev.details["cancelled"] == 1 and "user-w" not in json.dumps(ev.details)
    r = api.post("/v1/subjects/user-w/withdraw-consent", headers=auth)
    assert r.status_code == 404 and r.json()["code"] == "subject_not_found"


def _nothing_left(container, sid: str) -> None:  # type: ignore[no-untyped-def]
    """No session, capture, document, consent row or blob file of `sid` is left."""
    from idproof.verification.models import Capture, SessionDocument, VerificationSession

    with container.db.read() as s:
        assert s.get(VerificationSession, sid) is None
        assert s.scalars(select(Capture).where(Capture.session_id == sid)).all() == []
        assert s.scalars(select(SessionDocument)
                         .where(SessionDocument.session_id == sid)).all() == []
        assert s.scalars(select(ConsentGrant).where(ConsentGrant.session_id == sid)).all() == []
    blobs = container.settings.data_dir / "blobs"
    assert [p for p in blobs.rglob("*") if p.is_file()] == []


def _withdraw(api, auth, reference: str, sid: str) -> None:  # type: ignore[no-untyped-def]
    r = api.post(f"/v1/subjects/{reference}/withdraw-consent", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["cancelled"] == [sid] and r.json()["erased"] == [sid]


@pytest.mark.hold_tasks("process_capture")
def test_withdrawal_between_the_upload_and_its_job(api, auth, container,
                                                   task_queue) -> None:
    """The upload is stored and its job queued, then consent is withdrawn: the session,
    the image and its blob are erased, and the job finds nothing and stops cleanly."""
    sid, _path, page = opened(api, auth, reference="user-u")
    consent(api, page.text)
    token = csrf_of(api.get("/verify/s").text)
    up = api.post("/verify/s/documents", data={"csrf_token": token, "document_type": "passport"},
                  files={"front": ("f.jpg", jpeg(), "image/jpeg")}, follow_redirects=False)
    assert up.status_code == 303
    jobs = task_queue.of("process_capture")
    assert len(jobs) == 1
    _withdraw(api, auth, "user-u", sid)
    container.captures.process(*jobs.pop(0))  # no error: the session is gone
    _nothing_left(container, sid)
    # the same browser's next upload: its session is gone, nothing is written
    again = api.post("/verify/s/documents", data={"csrf_token": token,
                                                  "document_type": "passport"},
                     files={"front": ("f.jpg", jpeg(), "image/jpeg")}, follow_redirects=False)
    assert again.status_code == 401 and "Your session has ended" in again.text
    _nothing_left(container, sid)


@pytest.mark.hold_tasks("process_capture")
def test_withdrawal_lands_inside_the_upload(api, auth, container, task_queue,
                                            monkeypatch) -> None:
    """Consent is withdrawn while the upload runs: after its consent and session checks,
    while the image is decoded, before anything is written. The upload is refused with a
    clear page, no image or blob is written, and no job is queued."""
    from idproof.verification import captures

    sid, _path, page = opened(api, auth, reference="user-r")
    consent(api, page.text)
    token = csrf_of(api.get("/verify/s").text)
    real = captures.sanitize_image
    landed = []

    def decode_while_withdrawn(data: bytes):  # type: ignore[no-untyped-def]
        if not landed:
            landed.append(True)
            _withdraw(api, auth, "user-r", sid)
        return real(data)

    monkeypatch.setattr(captures, "sanitize_image", decode_while_withdrawn)
    up = api.post("/verify/s/documents", data={"csrf_token": token, "document_type": "passport"},
                  files={"front": ("f.jpg", jpeg(), "image/jpeg")}, follow_redirects=False)
    assert landed
    assert up.status_code == 401 and "Your session has ended" in up.text  # not a 500
    assert task_queue.of("process_capture") == []
    _nothing_left(container, sid)
    with container.db.read() as s:
        from idproof.audit.models import AuditEventRow

        uploaded = s.scalars(select(AuditEventRow).where(
            AuditEventRow.action == "session.document_uploaded")).all()
    assert uploaded == []

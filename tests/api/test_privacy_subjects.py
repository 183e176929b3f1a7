"""Subject export and erasure through the API, on SQLite and PostgreSQL: create, verify,
export (decrypted and compared), erase, export again (nothing), and a backup taken before
the erasure that cannot decrypt once the KEK is retired."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pyrage
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.crypto.errors import CryptoError
from idproof.crypto.keystore import KeyStore
from idproof.crypto.protection import DataProtection
from idproof.privacy.package import verify_zip
from idproof.verification.models import SessionDocument
from idproof.web.app import create_app
from idproof.webhooks.schemas import EVENT_TYPES
from tests.colour_engines import capture
from tests.helpers import bearer, get_token
from tests.task_log import TaskLog

SCOPES = "identity.verify identity.read_status identity.read_pii privacy.manage"

pytestmark = pytest.mark.hold_tasks("process_capture")


@pytest.fixture
def jobs(task_queue: TaskLog) -> list[tuple[str, ...]]:
    return task_queue.of("process_capture")


@pytest.fixture
def emitted(colour_container: Container) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    real = colour_container.webhooks.emit

    def emit(s, tenant_id, event_type, data):  # type: ignore[no-untyped-def]
        events.append((event_type, data))
        return real(s, tenant_id, event_type, data)  # the real outbox accepts the type

    # A spy around the outbox the service was built with (bootstrap passes webhooks.emit).
    colour_container.subjects._emit = emit
    return events


@pytest.fixture
def api(colour_container: Container, jobs: list[tuple[str, str]]) -> Iterator[TestClient]:
    with TestClient(create_app(colour_container), client=("127.0.0.1", 50000),
                    raise_server_exceptions=False) as tc:
        yield tc


@pytest.fixture
def auth(api: TestClient, make_client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(get_token(api, make_client(scopes=SCOPES)))


def run(container: Container, jobs: list[tuple[str, str]]) -> None:
    while jobs:
        container.captures.process(*jobs.pop(0))


def verified_session(api: TestClient, auth: dict[str, str], container: Container,
                     jobs: list[tuple[str, str]], reference: str) -> str:
    sid = api.post("/v1/sessions", json={"reference": reference, "workflow": "document_only"},
                   headers=auth).json()["id"]
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("d.jpg", capture("good", 1), "image/jpeg")}, headers=auth)
    assert r.status_code == 202, r.text
    run(container, jobs)
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.json()["status"] == "approved", r.text
    return sid


def test_export_erase_export_again(api, auth, colour_container, jobs, emitted, tmp_path,
                                   settings) -> None:
    c = colour_container
    c.tenants.set_image_retention("demo", 3600)  # keep the images an hour after decision
    sid = verified_session(api, auth, c, jobs, "user-42")
    second = api.post("/v1/sessions", json={"reference": "user-42",
                                            "workflow": "document_only"},
                      headers=auth).json()["id"]
    other = api.post("/v1/sessions", json={"reference": "user-7", "workflow": "document_only"},
                     headers=auth).json()["id"]
    assert api.get(f"/v1/sessions/{sid}/data?purpose=kyc%20review",
                   headers=auth).status_code == 200

    # -- export to an age public key: decrypt, check the manifest, compare -------------------
    identity = pyrage.x25519.Identity.generate()
    r = api.post("/v1/subjects/user-42/export", headers=auth, json={
        "purpose": "GDPR art. 15 request", "recipient": str(identity.to_public())})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    assert b"TESTER" not in r.content  # encrypted
    members = verify_zip(pyrage.decrypt(r.content, [identity]))
    data = json.loads(members["subject.json"])
    assert data["reference"] == "user-42"
    by_id = {s["id"]: s for s in data["sessions"]}
    assert sorted(by_id) == sorted([sid, second])  # the frozen clock: one creation time
    first = by_id[sid]
    assert first["status"] == "approved"
    assert first["steps"][0]["state"] == "passed"
    fields = first["extracted_fields"]
    assert (fields["surname"], fields["given_names"]) == ("TESTER", "ALEX")
    assert fields["document_number"].startswith("X")
    (image,) = first["images"]
    assert members[image["file"]][:2] == b"\xff\xd8"  # the retained JPEG, decrypted
    assert by_id[second]["extracted_fields"] is None
    reads = [e for e in data["audit_events"] if e["action"] == "session.pii_read"]
    assert reads and reads[0]["purpose"] == "kyc review" and reads[0]["actor_id"]
    assert data["screening_hits"] == []
    assert "TESTER" in members["summary.html"].decode()
    assert other not in members["subject.json"].decode()
    (ev,) = c.audit.list(action="subject.exported")
    assert ev.purpose == "GDPR art. 15 request" and ev.target_id.startswith("subj_")
    assert "user-42" not in json.dumps(ev.details)

    # -- a backup of the key store and of the sealed fields, taken before the erasure --------
    keystore_copy = tmp_path / "keystore-backup.db"
    with sqlite3.connect(settings.data_dir / "keystore.db") as src, \
            sqlite3.connect(keystore_copy) as dst:
        src.backup(dst)  # what `sqlite3 keystore.db ".backup ..."` does (WAL included)
    with c.db.read() as s:
        doc = s.scalar(select(SessionDocument).where(SessionDocument.session_id == sid))
        assert doc is not None
        sealed = (doc.tenant_id, doc.id, doc.subject_key_id, doc.surname_sealed)

    # -- erase -----------------------------------------------------------------------------
    r = api.delete("/v1/subjects/user-42", headers=auth)
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert sorted(e["session_id"] for e in receipt["sessions"]) == sorted([sid, second])
    assert receipt["totals"]["images_deleted"] == 1
    assert receipt["totals"]["document_records_deleted"] == 1
    assert receipt["totals"]["data_keys_shredded"] == 1  # the other never had data
    assert "TESTER" not in r.text and "ALEX" not in r.text
    assert [e for e, _ in emitted] == ["subject.erased"]
    assert emitted[0][1]["receipt_id"] == receipt["receipt_id"]
    assert "subject.erased" in EVENT_TYPES
    assert [b.name for b in (settings.data_dir / "blobs").rglob("*") if b.is_file()] == []

    # -- nothing left: export again is a 404, the other subject is untouched -----------------
    r = api.post("/v1/subjects/user-42/export", headers=auth, json={
        "purpose": "again", "recipient": str(identity.to_public())})
    assert r.status_code == 404 and r.json()["code"] == "subject_not_found"
    assert api.get(f"/v1/sessions/{other}", headers=auth).status_code == 200

    # -- the backup: readable until the KEK that wrapped the key is retired ------------------
    tenant_id, row_id, key_id, blob = sealed
    backup = DataProtection(KeyStore(f"sqlite:///{keystore_copy}"), c.protection.kms, c.audit)
    assert backup.decrypt(tenant_id, "session_documents", "surname", row_id, key_id,
                          blob) == b"TESTER"
    old = c.protection.kms.current_version()
    c.protection.rotate_kek()
    c.protection.retire(old)
    backup.clear_cache()
    with pytest.raises(CryptoError):
        backup.decrypt(tenant_id, "session_documents", "surname", row_id, key_id, blob)


def test_export_refusals(api, auth, colour_container, jobs) -> None:
    api.post("/v1/sessions", json={"reference": "user-9", "workflow": "document_only"},
             headers=auth)
    r = api.post("/v1/subjects/user-9/export", headers=auth, json={"purpose": "art. 15"})
    assert r.status_code == 422 and r.json()["code"] == "encryption_required"
    r = api.post("/v1/subjects/user-9/export", headers=auth,
                 json={"purpose": "art. 15", "recipient": "age1nope"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_recipient"
    r = api.post("/v1/subjects/user-9/export", headers=auth,
                 json={"purpose": "art. 15", "passphrase": "x" * 20, "extra": 1})
    assert r.status_code == 422
    r = api.post("/v1/subjects/nobody/export", headers=auth,
                 json={"purpose": "art. 15", "passphrase": "x" * 20})
    assert r.status_code == 404 and r.json()["code"] == "subject_not_found"
    (ev,) = colour_container.audit.list(action="subject.export_refused")
    assert ev.outcome == "failure" and ev.purpose == "art. 15"
    assert api.delete("/v1/subjects/nobody", headers=auth).status_code == 404
    # without the scope
    r = api.delete("/v1/subjects/user-9", headers=bearer(get_token(
        api, _client(colour_container, "identity.verify"))))
    assert r.status_code == 403


def _client(container: Container, scopes: str):  # type: ignore[no-untyped-def]
    from tests.helpers import ApiClient

    issued = container.clients.create("demo", scopes)
    return ApiClient(issued.client.id, issued.secret, "demo")


def test_export_with_a_passphrase(api, auth, colour_container, jobs) -> None:
    verified_session(api, auth, colour_container, jobs, "user-pass")
    r = api.post("/v1/subjects/user-pass/export", headers=auth,
                 json={"purpose": "art. 15", "passphrase": "correct horse battery"})
    assert r.status_code == 200, r.text
    members = verify_zip(pyrage.passphrase.decrypt(r.content, "correct horse battery"))
    assert json.loads(members["subject.json"])["sessions"][0]["status"] == "approved"


def test_erase_while_the_document_job_runs_stops_cleanly(api, auth, colour_container,
                                                         jobs) -> None:
    sid = api.post("/v1/sessions", json={"reference": "user-busy",
                                         "workflow": "document_only"}, headers=auth).json()["id"]
    api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
             files={"file": ("d.jpg", capture("good", 3), "image/jpeg")}, headers=auth)
    assert jobs
    assert api.delete("/v1/subjects/user-busy", headers=auth).status_code == 200
    run(colour_container, jobs)  # finds the session, key and image gone: no error
    with colour_container.db.read() as s:
        assert s.scalar(select(SessionDocument.id)) is None


def test_export_holds_the_screening_hits(api, auth, colour_container, jobs, clock) -> None:
    """A session's screening step and the screening events about it (matched list entries
    and scores, a reviewer's decision) are in the export; another subject's are not."""
    from idproof.audit.events import AuditEvent
    from idproof.verification.models import SessionStep

    c = colour_container
    sid = verified_session(api, auth, c, jobs, "user-screened")
    other = verified_session(api, auth, c, jobs, "user-clear")
    tenant_id = c.tenants.get("demo").id
    with c.db.session() as s:
        for session_id, hit in ((sid, True), (other, False)):
            s.add(SessionStep(session_id=session_id, step="screening",
                              state="review" if hit else "passed",
                              reasons=["screening_hit"] if hit else [], facts={"hit": hit},
                              attempts=1, updated_at=clock.now()))
    for session_id, entries in ((sid, ["ofac:12345", "un:QDi.1"]), (other, ["eu:9"])):
        c.audit.record(AuditEvent(
            action="screening.screened", tenant_id=tenant_id, target_type="session",
            target_id=session_id, details={"hits": len(entries), "best_score": 0.93,
                                           "threshold": 0.85, "entries": entries,
                                           "name": "must not be exported"}))
    c.audit.record(AuditEvent(action="screening.hit_confirmed", actor_type="operator",
                              actor_id="op_1", tenant_id=tenant_id, target_type="session",
                              target_id=sid, details={"decision": "false_positive"}))
    r = api.post("/v1/subjects/user-screened/export", headers=auth,
                 json={"purpose": "art. 15", "passphrase": "correct horse battery"})
    assert r.status_code == 200, r.text
    members = verify_zip(pyrage.passphrase.decrypt(r.content, "correct horse battery"))
    hits = json.loads(members["subject.json"])["screening_hits"]
    assert {h["session_id"] for h in hits} == {sid}
    step, screened, confirmed = hits
    assert (step["source"], step["state"], step["hit"]) == ("workflow_step", "review", True)
    assert screened["entries"] == ["ofac:12345", "un:QDi.1"]
    assert screened["best_score"] == 0.93 and "name" not in screened
    assert (confirmed["action"], confirmed["decision"]) == ("screening.hit_confirmed",
                                                           "false_positive")
    assert "ofac:12345" in members["summary.html"].decode()


def test_erase_while_the_document_is_read_stops_cleanly(api, auth, colour_container,
                                                         jobs, settings) -> None:
    """The erasure lands while the job reads the document (after it decrypted the image,
    before it writes anything): the job stops cleanly and writes nothing, no vault token,
    document record, capture or blob is left."""
    from idproof.vault.models import VaultToken
    from idproof.verification.models import Capture, VerificationSession

    c = colour_container
    sid = api.post("/v1/sessions", json={"reference": "user-ocr",
                                         "workflow": "document_only"}, headers=auth).json()["id"]
    api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
             files={"file": ("d.jpg", capture("good", 5), "image/jpeg")}, headers=auth)
    real = c.captures.job._reader
    erased = []

    class ReaderErasedMeanwhile:
        def read(self, image: bytes):  # type: ignore[no-untyped-def]
            r = api.delete("/v1/subjects/user-ocr", headers=auth)
            erased.append(r.status_code)
            return real.read(image)

    c.captures.job._reader = ReaderErasedMeanwhile()  # type: ignore[assignment]
    try:
        run(c, jobs)  # no error raised
    finally:
        c.captures.job._reader = real
    assert erased == [200]
    with c.db.read() as s:
        assert s.get(VerificationSession, sid) is None
        assert s.scalars(select(Capture)).all() == []
        assert s.scalars(select(SessionDocument)).all() == []
        assert s.scalars(select(VaultToken)).all() == []
    assert [b for b in (settings.data_dir / "blobs").rglob("*") if b.is_file()] == []

"""Signals through the API on real sessions: IP datasets, device reuse, velocity, 1:N faces,
reasons on the decision, erasure, and bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from idproof.bootstrap import Container
from idproof.signals.datasets import DatasetRefused
from idproof.signals.models import SignalFace, SignalObservation, SignalResult
from idproof.verification.biometrics.models import SelfieTemplate
from idproof.verification.models import VerificationSession
from tests.helpers import bearer, get_token

DATA = Path(__file__).parents[1] / "data" / "signals"
SCOPES = "identity.verify identity.read_status identity.delete"
pytestmark = pytest.mark.postgres
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.6367.91 Safari/537.36")
DEVICE = {"user_agent": CHROME, "platform": "Win32", "languages": ["fr-FR", "fr"],
          "timezone": "Europe/Paris", "screen_width": 1920, "screen_height": 1080,
          "color_depth": 24, "hardware_concurrency": 8, "canvas_hash": "0a1b2c3d4e5f6789"}


@pytest.fixture
def auth(api, make_client):  # type: ignore[no-untyped-def]
    return bearer(get_token(api, make_client(scopes=SCOPES)))


def datasets(c: Container) -> None:
    for kind, name in (("geoip", "geoip.csv"), ("tor", "exit-addresses"),
                       ("datacenter", "datacenters.txt"), ("vpn", "vpn.txt")):
        c.signals.datasets.import_file(kind, io.BytesIO((DATA / name).read_bytes()),
                                       actor="test")


def session(api, auth) -> str:  # type: ignore[no-untyped-def]
    r = api.post("/v1/sessions", json={"reference": "u1", "workflow": "document_selfie"},
                 headers=auth)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def signals(api, auth, sid: str, **body):  # type: ignore[no-untyped-def]
    return api.post(f"/v1/sessions/{sid}/signals", json=body, headers=auth)


def test_ip_signals_from_imported_datasets(api, auth, container) -> None:  # type: ignore[no-untyped-def]
    datasets(container)
    sid = session(api, auth)
    r = signals(api, auth, sid, ip="198.51.100.77", device=DEVICE)
    assert r.status_code == 200, r.text
    assert r.json()["reasons"] == ["ip_tor"]
    assert r.json()["signals"]["ip_country"] == "DE" and r.json()["signals"]["ip_asn"] == 64501
    r = signals(api, auth, session(api, auth), ip="203.0.113.9")
    assert r.json()["reasons"] == ["ip_datacenter"]
    r = signals(api, auth, session(api, auth), ip="192.0.2.140")
    assert r.json()["reasons"] == ["ip_vpn"]
    got = api.get(f"/v1/sessions/{sid}/signals", headers=auth)
    assert got.status_code == 200 and got.json()["reasons"] == ["ip_tor"]
    # The address is kept only as a keyed hash: not in the result, not in an observation.
    with container.db.read() as s:
        stored = json.dumps([r.evidence for r in s.scalars(select(SignalResult))])
        keys = [o.key for o in s.scalars(select(SignalObservation))]
    assert "198.51.100.77" not in stored and all("198.51" not in k for k in keys)
    # A refused file changes nothing: the previous tor list still answers.
    with pytest.raises(DatasetRefused):
        container.signals.datasets.import_file("tor", io.BytesIO(b"ExitAddress nope\n"))
    assert container.signals.datasets.intel().lookup("198.51.100.77").tor  # type: ignore[union-attr]


def test_automation_and_device_reuse_across_sessions(api, auth, container) -> None:  # type: ignore[no-untyped-def]
    r = signals(api, auth, session(api, auth), device={**DEVICE, "webdriver": True})
    assert r.json()["reasons"] == ["automation_suspected"]
    assert r.json()["signals"]["automation_hints"] == ["navigator.webdriver"]
    # The same device in more sessions than the limit (3 others in 24 h).
    device = {**DEVICE, "canvas_hash": "ffeeddccbbaa9988"}
    reasons = [signals(api, auth, session(api, auth), device=device).json()["reasons"]
               for _ in range(5)]
    assert reasons[:4] == [[], [], [], []]
    assert reasons[4] == ["device_reused", "velocity_exceeded"]


def test_velocity_per_ip_within_the_window(api, auth, make_client, clock) -> None:  # type: ignore[no-untyped-def]
    out = [signals(api, auth, session(api, auth), ip="8.8.4.4").json() for _ in range(12)]
    assert [o["signals"]["velocity"].get("ip", 0) for o in out] == list(range(12))
    assert ["velocity_exceeded" in o["reasons"] for o in out] == [False] * 11 + [True]
    clock.advance(25 * 3600)  # the window has passed
    auth = bearer(get_token(api, make_client(scopes=SCOPES)))
    fresh = signals(api, auth, session(api, auth), ip="8.8.4.4").json()
    assert fresh["reasons"] == [] and fresh["signals"]["velocity"] == {}


def selfie(container: Container, sid: str, vec: np.ndarray) -> None:
    """The sealed template the biometrics step keeps until the decision."""
    with container.db.session() as s:
        row = s.get(VerificationSession, sid)
        assert row is not None
        key = container.protection.subject_key(row.tenant_id, row.subject_key_id)
        sealed = container.protection.encrypt(row.tenant_id, "selfie_templates",
                                              "sealed_embedding", sid, key,
                                              vec.astype("<f8").tobytes())
        s.add(SelfieTemplate(session_id=sid, tenant_id=row.tenant_id,
                             sealed_embedding=sealed, pad_suspected=False,
                             created_at=container.clock.now()))


def decide(container: Container, sid: str, status: str) -> None:
    """What the decision does: status and decision stored, `session.decided` emitted."""
    with container.db.session() as s:
        row = s.get(VerificationSession, sid)
        assert row is not None
        row.status, row.decision = status, {"status": status, "reasons": [], "checks": {}}
        container.sessions.emit(s, row, "session.decided")


def test_faces_one_to_n_duplicate_blocklist_and_erasure(api, auth, container,
                                                         make_client) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    person, stranger, banned = (rng.normal(size=128) for _ in range(3))
    first = session(api, auth)
    selfie(container, first, person)
    assert signals(api, auth, first).json()["reasons"] == []
    decide(container, first, "approved")
    with container.db.read() as s:
        (face,) = s.scalars(select(SignalFace))
        assert face.list == "approved" and face.session_id == first
        assert person.astype("<f4").tobytes() not in face.sealed_embedding
    again = session(api, auth)
    selfie(container, again, person + rng.normal(scale=0.02, size=128))
    out = signals(api, auth, again).json()
    assert out["reasons"] == ["face_duplicate"]
    assert out["signals"]["face_duplicate_sessions"] == [first]
    # The duplicate is a reason on the decision (and in session.decided), status unchanged.
    decide(container, again, "approved")
    d = api.get(f"/v1/sessions/{again}/decision", headers=auth).json()
    assert "face_duplicate" in d["reasons"] and d["status"] == "approved"
    # A fraudster's session: its face is blocklisted through the API (identity.review).
    fraud = session(api, auth)
    selfie(container, fraud, banned)
    signals(api, auth, fraud)
    assert api.post(f"/v1/sessions/{fraud}/face-blocklist", headers=auth).status_code == 403
    reviewer = bearer(get_token(api, make_client(scopes="identity.review")))
    r = api.post(f"/v1/sessions/{fraud}/face-blocklist", headers=reviewer)
    assert r.status_code == 201 and r.json()["face_id"].startswith("face_")
    assert container.audit.list(action="signals.face_enrolled")[-1].details["list"] == \
        "blocklist"
    r = api.post(f"/v1/sessions/{session(api, auth)}/face-blocklist", headers=reviewer)
    assert r.status_code == 404 and r.json()["code"] == "face_not_found"
    third = session(api, auth)
    selfie(container, third, banned)
    assert signals(api, auth, third).json()["reasons"] == ["face_blocklisted"]
    other = session(api, auth)
    selfie(container, other, stranger)
    assert signals(api, auth, other).json()["reasons"] == []
    # Erasing the first subject removes its face: the next look-alike only matches `again`.
    assert api.delete(f"/v1/sessions/{first}", headers=auth).status_code == 204
    with container.db.read() as s:
        assert s.scalars(select(SignalFace).where(SignalFace.session_id == first)).all() == []
        assert s.get(SignalResult, first) is None
    late = session(api, auth)
    selfie(container, late, person)
    assert signals(api, auth, late).json()["signals"]["face_duplicate_sessions"] == [again]


def test_bad_input_is_refused_and_changes_nothing(api, auth, make_client, container) -> None:  # type: ignore[no-untyped-def]
    sid = session(api, auth)
    # The refused value holds a dash: a random request id (letters and digits) never does.
    for body in ({"ip": "300.1.1.1"}, {"device": {**DEVICE, "serial_number": "SN-X1"}},
                 {"device": {**DEVICE, "screen_width": -1}}, {"ipaddress": "1.1.1.1"},
                 {"device": {"platform": "Win32"}}):
        r = signals(api, auth, sid, **body)
        assert r.status_code == 422, body
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "Traceback" not in r.text and "SN-X1" not in r.text
    with container.db.read() as s:
        assert s.scalars(select(SignalObservation)).all() == []
    assert api.get(f"/v1/sessions/{sid}/signals", headers=auth).status_code == 404
    container.tenants.ensure("other")
    other = bearer(get_token(api, make_client("other", scopes=SCOPES)))
    assert signals(api, other, sid, ip="8.8.8.8").status_code == 404
    assert api.post(f"/v1/sessions/{sid}/signals", json={}).status_code == 401


def test_velocity_limits_come_from_settings(settings, clock) -> None:  # type: ignore[no-untyped-def]
    from idproof.bootstrap import build_container
    from idproof.config import SignalsSettings
    from idproof.signals.service import Assessment

    strict = settings.model_copy(update={"signals": SignalsSettings(window_hours=1,
                                                                    max_per_ip=1)})
    c = build_container(strict, clock)
    try:
        tenant = c.tenants.ensure("demo").id
        out = [c.signals.assess(tenant, f"ses_{i}", Assessment(ip="192.0.2.9")).reasons
               for i in range(3)]
        assert out == [[], [], ["velocity_exceeded"]]
        clock.advance(3601)
        assert c.signals.assess(tenant, "ses_late", Assessment(ip="192.0.2.9")).reasons == []
    finally:
        c.close()


def with_document(c: Container, sid: str, index: str, country: str) -> None:
    """The row the document job leaves: the blind index and the sealed countries."""
    from idproof.crypto.fields import bind_protection
    from idproof.verification.models import SessionDocument

    with c.db.session() as s:
        bind_protection(s, c.protection)
        row = s.get(VerificationSession, sid)
        assert row is not None
        doc = SessionDocument(id=f"doc_{sid[4:]}", session_id=sid, tenant_id=row.tenant_id,
                              subject_key_id=c.protection.subject_key(row.tenant_id,
                                                                      row.subject_key_id),
                              document_type="passport", document_number_token="tok_x",
                              document_index=index, created_at=c.clock.now())
        doc.issuing_country, doc.nationality = country, country
        doc.surname, doc.given_names = "Tester", "Tess"
        s.add(doc)


def test_country_mismatch_and_one_device_many_documents(api, auth, container) -> None:  # type: ignore[no-untyped-def]
    datasets(container)
    first = session(api, auth)
    with_document(container, first, "a" * 32, "FRA")
    out = signals(api, auth, first, ip="192.0.2.10", device=DEVICE).json()  # a French IP
    assert out["reasons"] == [] and out["signals"]["ip_country"] == "FR"
    second = session(api, auth)
    with_document(container, second, "b" * 32, "DEU")  # another person, the same device
    out = signals(api, auth, second, ip="192.0.2.11", device=DEVICE).json()
    assert out["reasons"] == ["ip_country_mismatch", "device_reused"]
    assert out["signals"]["device_identities"] == 1
    # The same document again on a new session is velocity on the document, not reuse.
    third = session(api, auth)
    with_document(container, third, "b" * 32, "DEU")
    out = signals(api, auth, third).json()
    assert out["signals"]["velocity"] == {"document": 1} and out["reasons"] == []


def test_the_erasure_receipt_counts_the_subjects_face_index_entries(api, auth, container,  # type: ignore[no-untyped-def]
                                                                     make_client) -> None:
    sid = session(api, auth)
    selfie(container, sid, np.random.default_rng(5).normal(size=128))
    signals(api, auth, sid)
    decide(container, sid, "approved")
    with container.db.read() as s:
        assert len(s.scalars(select(SignalFace).where(SignalFace.session_id == sid)).all()) == 1
    dpo = bearer(get_token(api, make_client(scopes="privacy.manage")))
    r = api.delete("/v1/subjects/u1", headers=dpo)
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert receipt["totals"]["face_index_entries_deleted"] == 1
    assert [e["face_index_entries_deleted"] for e in receipt["sessions"]] == [1]
    with container.db.read() as s:
        assert s.scalars(select(SignalFace).where(SignalFace.session_id == sid)).all() == []

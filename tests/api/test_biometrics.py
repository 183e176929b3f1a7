"""Selfie and liveness endpoints: match, mismatch, challenge rules, bad input, tenancy."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from idproof.testing import DocumentGenerator
from tests.biometrics_data import fetch, jpeg_bytes, load, portrait_crop
from tests.helpers import bearer, get_token

SCOPES = "identity.verify identity.read_status"


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    folder = fetch()
    return {n: load(n, folder) for n in ("obama.jpg", "obama2.jpg", "biden.jpg")}


@pytest.fixture(scope="module")
def passport_jpeg(photos: dict[str, Image.Image]) -> bytes:
    from idproof.verification.biometrics.engines import DlibFaceEngine

    img = photos["obama.jpg"]
    box = DlibFaceEngine().detect(np.asarray(img))[0].box
    portrait = portrait_crop(img, (box.left, box.top, box.right, box.bottom))
    doc = DocumentGenerator(seed=3).passport(portrait=portrait)
    return jpeg_bytes(doc.front)


@pytest.fixture
def auth(api, make_client):
    return bearer(get_token(api, make_client(scopes=SCOPES)))


def new_session(api, auth, workflow: str = "kyc_standard") -> str:
    r = api.post("/v1/sessions", json={"workflow": workflow, "reference": "u-1"}, headers=auth)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def upload_doc(api, auth, sid: str, data: bytes) -> None:
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("front.jpg", data, "image/jpeg")}, headers=auth)
    assert r.status_code == 202, r.text


def selfie(api, auth, sid: str, data: bytes):
    return api.post(f"/v1/sessions/{sid}/selfie",
                    files={"file": ("selfie.jpg", data, "image/jpeg")}, headers=auth)


def step(view: dict, name: str) -> dict:
    return next(s for s in view["steps"] if s["step"] == name)


def test_selfie_of_the_same_person_matches(api, auth, passport_jpeg, photos, container) -> None:
    sid = new_session(api, auth)
    upload_doc(api, auth, sid, passport_jpeg)
    r = selfie(api, auth, sid, jpeg_bytes(photos["obama2.jpg"]))
    assert r.status_code == 200, r.text
    st = step(r.json(), "selfie")
    assert st["state"] == "passed" and st["reasons"] == [] and st["attempts"] == 1
    # The answer carries no biometric data, only states and reason codes.
    assert "embedding" not in r.text and "distance" not in r.text
    events = [e for e in container.audit.list() if e.action == "session.selfie_processed"]
    assert len(events) == 1 and events[0].details["state"] == "passed"


def test_selfie_of_someone_else_is_a_mismatch(api, auth, passport_jpeg, photos) -> None:
    sid = new_session(api, auth, "document_selfie")
    upload_doc(api, auth, sid, passport_jpeg)
    r = selfie(api, auth, sid, jpeg_bytes(photos["biden.jpg"]))
    assert r.status_code == 200, r.text
    st = step(r.json(), "selfie")
    assert st["state"] == "failed" and st["reasons"] == ["face_mismatch"]


def test_selfie_without_a_face_asks_for_a_retake(api, auth, passport_jpeg) -> None:
    sid = new_session(api, auth)
    upload_doc(api, auth, sid, passport_jpeg)
    blank = Image.new("RGB", (640, 480), (200, 190, 180))
    st = step(selfie(api, auth, sid, jpeg_bytes(blank)).json(), "selfie")
    assert st["state"] == "retry" and st["reasons"] == ["no_face"]


def test_a_selfie_before_the_document_is_matched_at_submit(api, auth, passport_jpeg, photos,
                                                           container) -> None:
    from idproof.verification.biometrics.models import SelfieTemplate

    sid = new_session(api, auth, "document_selfie")
    r = selfie(api, auth, sid, jpeg_bytes(photos["obama2.jpg"]))
    assert r.status_code == 200, r.text
    assert step(r.json(), "selfie")["state"] == "processing"
    with container.db.read() as s:
        t = s.get(SelfieTemplate, sid)
        assert t is not None and len(t.sealed_embedding) > 128 * 8  # sealed, not raw floats
    upload_doc(api, auth, sid, passport_jpeg)
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 200, r.text
    st = step(r.json(), "selfie")
    assert st["state"] == "passed" and st["reasons"] == []


def test_a_selfie_before_someone_elses_document_is_a_mismatch(api, auth, passport_jpeg,
                                                              photos) -> None:
    sid = new_session(api, auth, "document_selfie")
    selfie(api, auth, sid, jpeg_bytes(photos["biden.jpg"]))
    upload_doc(api, auth, sid, passport_jpeg)
    st = step(api.post(f"/v1/sessions/{sid}/submit", headers=auth).json(), "selfie")
    assert st["state"] == "failed" and st["reasons"] == ["face_mismatch"]


def test_the_selfie_template_goes_at_the_decision(api, auth, passport_jpeg, photos,
                                                  container) -> None:
    from sqlalchemy import select

    from idproof.verification.biometrics.models import SelfieTemplate
    from idproof.verification.models import Capture

    sid = new_session(api, auth, "document_selfie")
    upload_doc(api, auth, sid, passport_jpeg)
    selfie(api, auth, sid, jpeg_bytes(photos["obama2.jpg"]))
    with container.db.read() as s:
        assert s.get(SelfieTemplate, sid) is not None
        cap_id = s.scalar(select(Capture.id).where(Capture.session_id == sid))
    assert api.post(f"/v1/sessions/{sid}/submit", headers=auth).status_code == 200
    container.captures.process(sid, cap_id)  # the document job decides
    assert api.get(f"/v1/sessions/{sid}/decision", headers=auth).json()["decided"] is True
    with container.db.read() as s:
        assert s.get(SelfieTemplate, sid) is None


@pytest.mark.parametrize(("data", "status", "code"), [
    (b"GIF89a" + b"\0" * 100, 415, "unsupported_image_type"),
    (b"\xff\xd8\xff" + b"\0" * 100, 422, "image_corrupt"),
])
def test_selfie_upload_checks(api, auth, passport_jpeg, data, status, code) -> None:
    sid = new_session(api, auth)
    upload_doc(api, auth, sid, passport_jpeg)
    r = selfie(api, auth, sid, data)
    assert r.status_code == status and r.json()["code"] == code
    view = api.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert step(view, "selfie") == {"step": "selfie", "state": "pending", "reasons": [],
                                    "attempts": 0}


def test_selfie_decompression_bomb_is_refused(api, auth, passport_jpeg) -> None:
    sid = new_session(api, auth)
    upload_doc(api, auth, sid, passport_jpeg)
    buf = io.BytesIO()
    Image.new("L", (9000, 9000)).save(buf, format="PNG")  # 81 Mpx of zeros in a few KB
    r = selfie(api, auth, sid, buf.getvalue())
    assert r.status_code == 422 and r.json()["code"] in {"image_too_large", "decompression_bomb"}


def test_other_tenant_gets_404(api, auth, make_client, passport_jpeg, photos) -> None:
    sid = new_session(api, auth)
    other = bearer(get_token(api, make_client(tenant="other", scopes=SCOPES)))
    assert selfie(api, other, sid, jpeg_bytes(photos["obama2.jpg"])).status_code == 404
    r = api.post(f"/v1/sessions/{sid}/liveness/challenge", headers=other)
    assert r.status_code == 404 and r.json()["code"] == "session_not_found"


def test_scope_is_required(api, make_client, auth) -> None:
    sid = new_session(api, auth)
    reader = bearer(get_token(api, make_client(scopes="identity.read_status")))
    assert api.post(f"/v1/sessions/{sid}/liveness/challenge", headers=reader).status_code == 403


def test_selfie_step_must_be_in_the_workflow(api, auth, photos) -> None:
    sid = new_session(api, auth, "document_only")
    r = selfie(api, auth, sid, jpeg_bytes(photos["obama2.jpg"]))
    assert r.status_code == 422 and r.json()["code"] == "step_not_in_workflow"
    r = api.post(f"/v1/sessions/{sid}/liveness/challenge", headers=auth)
    assert r.status_code == 422 and r.json()["code"] == "step_not_in_workflow"


def test_challenge_shape(api, auth) -> None:
    sid = new_session(api, auth)
    r = api.post(f"/v1/sessions/{sid}/liveness/challenge", headers=auth)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"challenge_id", "actions", "expires_at"}
    assert 2 <= len(body["actions"]) <= 3
    assert set(body["actions"]) <= {"turn_left", "turn_right", "look_up", "blink"}


def frames_of(img: Image.Image, n: int = 12) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("frames", (f"f{i}.jpg", jpeg_bytes(img, 85 + i % 5), "image/jpeg"))
            for i in range(n)]


def answer(api, auth, sid: str, cid: str, files, stamps) -> object:
    return api.post(f"/v1/sessions/{sid}/liveness",
                    data={"challenge_id": cid, "timestamps": json.dumps(stamps)},
                    files=files, headers=auth)


def test_liveness_still_photo_fails_then_replay_and_expiry_are_refused(
        api, auth, passport_jpeg, photos, clock) -> None:
    sid = new_session(api, auth)
    upload_doc(api, auth, sid, passport_jpeg)
    cid = api.post(f"/v1/sessions/{sid}/liveness/challenge", headers=auth).json()["challenge_id"]
    files = frames_of(photos["obama2.jpg"].resize((480, 920)))
    stamps = [i * 200 for i in range(12)]
    r = answer(api, auth, sid, cid, files, stamps)
    assert r.status_code == 200, r.text
    st = step(r.json(), "liveness")
    assert st["state"] == "retry" and st["reasons"] == ["liveness_failed"]
    # The same challenge again: refused, nothing changes.
    again = answer(api, auth, sid, cid, files, stamps)
    assert again.status_code == 409 and again.json()["code"] == "challenge_replayed"
    view = api.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert step(view, "liveness")["attempts"] == 1
    # A late answer: refused with its own code.
    late = api.post(f"/v1/sessions/{sid}/liveness/challenge", headers=auth).json()
    clock.advance(600)
    r = answer(api, auth, sid, late["challenge_id"], files, stamps)
    assert r.status_code == 409 and r.json()["code"] == "challenge_expired"


@pytest.mark.parametrize(("n", "stamps", "code"), [
    (5, None, "invalid_frame_count"),
    (41, None, "invalid_frame_count"),
    (12, "not json", "invalid_timestamps"),
    (12, [1, 2, 3], "invalid_timestamps"),
])
def test_liveness_bad_input_changes_nothing(api, auth, photos, n, stamps, code) -> None:
    sid = new_session(api, auth)
    cid = api.post(f"/v1/sessions/{sid}/liveness/challenge", headers=auth).json()["challenge_id"]
    small = photos["obama2.jpg"].resize((160, 300))
    ts = stamps if stamps is not None else list(range(0, n * 100, 100))
    r = api.post(f"/v1/sessions/{sid}/liveness",
                 data={"challenge_id": cid,
                       "timestamps": ts if isinstance(ts, str) else json.dumps(ts)},
                 files=frames_of(small, n), headers=auth)
    assert r.status_code == 422 and r.json()["code"] == code, r.text
    view = api.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert step(view, "liveness")["attempts"] == 0


def test_liveness_frames_must_be_jpeg(api, auth, photos) -> None:
    sid = new_session(api, auth)
    cid = api.post(f"/v1/sessions/{sid}/liveness/challenge", headers=auth).json()["challenge_id"]
    buf = io.BytesIO()
    photos["obama2.jpg"].resize((160, 300)).save(buf, format="PNG")
    files = [("frames", (f"f{i}.png", buf.getvalue(), "image/png")) for i in range(10)]
    r = answer(api, auth, sid, cid, files, list(range(0, 1000, 100)))
    assert r.status_code == 415 and r.json()["code"] == "unsupported_image_type"
    # The challenge was not spent by a refused upload.
    ok = answer(api, auth, sid, cid, frames_of(photos["obama2.jpg"].resize((160, 300)), 10),
                list(range(0, 1000, 100)))
    assert ok.status_code == 409 and ok.json()["code"] == "reference_required"


def test_a_final_selfie_result_cannot_be_overwritten(api, auth, passport_jpeg, photos) -> None:
    sid = new_session(api, auth)
    upload_doc(api, auth, sid, passport_jpeg)
    r = selfie(api, auth, sid, jpeg_bytes(photos["biden.jpg"]))
    assert step(r.json(), "selfie")["reasons"] == ["face_mismatch"]
    # Another try, now with a photo of the document's holder: refused, the mismatch stands.
    again = selfie(api, auth, sid, jpeg_bytes(photos["obama2.jpg"]))
    assert again.status_code == 409 and again.json()["code"] == "step_complete"
    view = api.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert step(view, "selfie")["state"] == "failed"


def test_retakes_stop_when_attempts_run_out(api, auth, passport_jpeg) -> None:
    sid = new_session(api, auth)
    upload_doc(api, auth, sid, passport_jpeg)
    blank = jpeg_bytes(Image.new("RGB", (640, 480), (200, 190, 180)))
    states = [step(selfie(api, auth, sid, blank).json(), "selfie")["state"] for _ in range(3)]
    assert states == ["retry", "retry", "failed"]
    assert selfie(api, auth, sid, blank).json()["code"] == "step_complete"


def test_erasing_the_session_removes_its_challenges(api, make_client, container) -> None:
    from sqlalchemy import select

    from idproof.verification.biometrics.models import LivenessChallenge

    c = make_client(scopes="identity.verify identity.read_status identity.delete")
    auth = bearer(get_token(api, c))
    sid = new_session(api, auth)
    assert api.post(f"/v1/sessions/{sid}/liveness/challenge", headers=auth).status_code == 201
    assert api.delete(f"/v1/sessions/{sid}", headers=auth).status_code == 204
    with container.db.read() as s:
        assert s.scalars(select(LivenessChallenge)
                         .where(LivenessChallenge.session_id == sid)).all() == []


def test_a_selfie_of_a_screen_is_flagged(api, auth, passport_jpeg, photos) -> None:
    from tests.biometrics_data import screen_replay

    sid = new_session(api, auth)
    upload_doc(api, auth, sid, passport_jpeg)
    r = selfie(api, auth, sid, jpeg_bytes(screen_replay(photos["obama2.jpg"])))
    assert r.status_code == 200, r.text
    st = step(r.json(), "selfie")
    assert st["state"] == "passed" and st["reasons"] == ["presentation_attack_suspected"]


def test_biometric_uploads_are_parsed_in_memory() -> None:
    import inspect

    from idproof.http.forms import InMemoryMultiPartParser
    from idproof.web.middleware import EdgeMiddleware

    default_limit = inspect.signature(EdgeMiddleware.__init__).parameters["max_upload_bytes"]
    # Any body the edge lets through fits the parser's in-memory spool: nothing hits disk.
    assert InMemoryMultiPartParser.spool_max_size > default_limit.default


def test_malformed_forms_get_stable_codes(api, auth) -> None:
    sid = new_session(api, auth)
    r = api.post(f"/v1/sessions/{sid}/selfie", json={"file": "x"}, headers=auth)
    assert r.status_code == 422 and r.json()["code"] == "invalid_form"
    r = api.post(f"/v1/sessions/{sid}/selfie", data={"file": "not a file"},
                 files={"other": ("a.jpg", b"x", "image/jpeg")}, headers=auth)
    assert r.status_code == 422 and r.json()["code"] == "invalid_form"
    r = api.post(f"/v1/sessions/{sid}/liveness", data={"timestamps": "[1]"},
                 files={"frames": ("a.jpg", b"x", "image/jpeg")}, headers=auth)
    assert r.status_code == 422 and r.json()["code"] == "invalid_challenge_id"
    r = api.post(f"/v1/sessions/{sid}/liveness", data={"challenge_id": "chl_nope",
                                                       "timestamps": json.dumps(
                                                           list(range(0, 1000, 100)))},
                 files=[("frames", (f"{i}.jpg", jpeg_bytes(Image.new("RGB", (80, 80))),
                                    "image/jpeg")) for i in range(10)], headers=auth)
    assert r.status_code in {404, 409}


def test_a_challenge_is_bound_to_its_session(api, auth, passport_jpeg, photos) -> None:
    a, b = new_session(api, auth), new_session(api, auth)
    upload_doc(api, auth, b, passport_jpeg)
    cid = api.post(f"/v1/sessions/{a}/liveness/challenge", headers=auth).json()["challenge_id"]
    r = answer(api, auth, b, cid, frames_of(photos["obama2.jpg"].resize((160, 300)), 10),
               list(range(0, 1000, 100)))
    assert r.status_code == 404 and r.json()["code"] == "challenge_not_found"
    view = api.get(f"/v1/sessions/{b}", headers=auth).json()
    assert step(view, "liveness")["attempts"] == 0


def test_a_new_document_front_voids_face_results(api, auth, passport_jpeg, photos,
                                                 container) -> None:
    sid = new_session(api, auth)
    upload_doc(api, auth, sid, passport_jpeg)
    r = selfie(api, auth, sid, jpeg_bytes(photos["obama2.jpg"]))
    assert step(r.json(), "selfie")["state"] == "passed"
    # A second front through the API (a different document, say): the result stored against
    # the first portrait must not stand.
    upload_doc(api, auth, sid, passport_jpeg)
    view = api.get(f"/v1/sessions/{sid}", headers=auth).json()
    # The kept (sealed) selfie is matched again with the new portrait at submit.
    assert step(view, "selfie")["state"] == "processing"
    assert step(view, "selfie")["attempts"] == 1  # attempts still count


def test_liveness_is_compared_with_the_selfie_when_there_is_no_document_yet(
        api, auth, photos) -> None:
    sid = new_session(api, auth)
    assert step(selfie(api, auth, sid, jpeg_bytes(photos["obama2.jpg"])).json(),
                "selfie")["state"] == "processing"
    cid = api.post(f"/v1/sessions/{sid}/liveness/challenge", headers=auth).json()["challenge_id"]
    r = answer(api, auth, sid, cid, frames_of(photos["obama2.jpg"].resize((420, 805)), 10),
               [i * 200 for i in range(10)])
    assert r.status_code == 200, r.text  # the sealed selfie is the reference
    assert step(r.json(), "liveness")["reasons"] == ["liveness_failed"]  # a still photo

"""The hosted pages' pose probe (`POST /verify/s/pose`): the server's face detector and pose
rules on one small frame, for the selfie framing and the liveness ticks. Real dlib engines on
real faces: a frontal face is centred, a turned head reaches its turn and not the other one;
bad frames get problem+json; the probe has its own rate limit; nothing is kept."""

from __future__ import annotations

import io
import json
import logging
import tempfile
import time

import pytest
from PIL import Image
from sqlalchemy import func, select
from starlette.testclient import TestClient

from idproof.audit.models import AuditEventRow
from idproof.bootstrap import build_container
from idproof.db.base import Base
from idproof.web.app import create_app
from tests.api.test_hosted import auth, consent, csrf_of, opened  # noqa: F401
from tests.biometrics_data import fetch
from tests.helpers import ApiClient, bearer, get_token
from tests.integration.test_biometrics_privacy import files_under, needles
from tests.pose_faces import scene


@pytest.fixture(scope="module")
def frames() -> dict[str, bytes]:
    folder = fetch()

    def jpeg(img: Image.Image) -> bytes:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=80)
        return buf.getvalue()

    return {"front": jpeg(scene("obama.jpg", folder=folder)),
            "right": jpeg(scene("obama2.jpg", folder=folder)),
            "left": jpeg(scene("obama2.jpg", mirror=True, folder=folder)),
            "aside": jpeg(scene("obama.jpg", offset=(0.3, 0.0), folder=folder)),
            "far": jpeg(scene("obama.jpg", face_share=0.1, folder=folder)),
            "empty": jpeg(Image.new("RGB", (480, 360), (120, 130, 140)))}


def _ready(api, auth, workflow: str = "kyc_standard") -> str:  # noqa: F811
    _sid, _path, r = opened(api, auth, workflow=workflow)
    token = csrf_of(r.text)
    consent(api, r.text)
    return token


def _probe(api, token: str, frame: bytes, content_type: str = "image/jpeg", **data: str):
    return api.post("/verify/s/pose", headers={"x-csrf-token": token}, data=data,
                    files={"frame": ("probe.jpg", frame, content_type)})


def _ok(r) -> dict:
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return r.json()


def test_a_frontal_face_is_centred_and_looks_straight(api, auth, frames) -> None:  # noqa: F811
    token = _ready(api, auth)
    framing = _ok(_probe(api, token, frames["front"]))  # the selfie page asks no action
    assert framing["face"] is True and framing["centred"] is True
    assert framing["problem"] is None and framing["reached"] is None
    straight = _ok(_probe(api, token, frames["front"], action="look_straight"))
    assert straight["reached"] is True and straight["state"] is None
    assert set(straight["pose"]) == {"yaw", "pitch", "ear"}
    assert abs(straight["pose"]["yaw"]) < 0.18


def test_a_turned_head_reaches_its_own_turn_only(api, auth, frames) -> None:  # noqa: F811
    token = _ready(api, auth)
    base = json.dumps(_ok(_probe(api, token, frames["front"], action="look_straight"))["pose"])
    right = _ok(_probe(api, token, frames["right"], action="turn_right", baseline=base))
    assert right["state"] == "turn_right" and right["reached"] is True
    wrong = _ok(_probe(api, token, frames["right"], action="turn_left", baseline=base))
    assert wrong["state"] == "turn_right" and wrong["reached"] is False
    left = _ok(_probe(api, token, frames["left"], action="turn_left", baseline=base))
    assert left["state"] == "turn_left" and left["reached"] is True
    # A frontal face reaches no movement, and a turned one is not "looking straight".
    still = _ok(_probe(api, token, frames["front"], action="turn_left", baseline=base))
    assert still["reached"] is False and still["state"] is None
    assert _ok(_probe(api, token, frames["right"], action="look_straight"))["reached"] is False


def test_framing_problems_and_no_face(api, auth, frames) -> None:  # noqa: F811
    token = _ready(api, auth)
    aside = _ok(_probe(api, token, frames["aside"], action="look_straight"))
    assert aside["face"] is True and aside["centred"] is False
    assert aside["problem"] == "off_centre" and aside["reached"] is False
    assert _ok(_probe(api, token, frames["far"]))["problem"] == "too_far"
    empty = _ok(_probe(api, token, frames["empty"], action="look_straight"))
    assert empty == {"face": False, "centred": False, "problem": "no_face", "pose": None,
                     "state": None, "reached": False}


def _problem(r, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code


def test_bad_frames_and_fields_are_refused_with_problems(api, auth, frames) -> None:  # noqa: F811
    token = _ready(api, auth)
    noise = Image.frombytes("RGB", (640, 480), bytes(range(256)) * 3600)
    buf = io.BytesIO()
    noise.save(buf, format="JPEG", quality=95)
    assert len(buf.getvalue()) > 64 * 1024
    _problem(_probe(api, token, buf.getvalue()), 413, "upload_too_large")
    big = io.BytesIO()
    Image.new("RGB", (1280, 720), (90, 90, 90)).save(big, format="JPEG")
    _problem(_probe(api, token, big.getvalue()), 422, "image_too_large")
    png = io.BytesIO()
    Image.new("RGB", (480, 360)).save(png, format="PNG")
    _problem(_probe(api, token, png.getvalue(), "image/png"), 415, "unsupported_image_type")
    _problem(_probe(api, token, b"\xff\xd8\xff" + b"x" * 500), 422, "image_corrupt")
    _problem(_probe(api, token, frames["front"], action="smile_widely"), 422, "invalid_action")
    for baseline in ("nope", '{"yaw": 0, "pitch": 0.3}', '{"yaw": 0, "pitch": 0.3, "ear": 0.3, '
                     '"x": 1}', '{"yaw": 9, "pitch": 0.3, "ear": 0.3}'):
        _problem(_probe(api, token, frames["front"], action="blink", baseline=baseline), 422,
                 "invalid_baseline")
    missing = api.post("/verify/s/pose", headers={"x-csrf-token": token}, data={"x": "1"})
    assert missing.status_code == 422
    assert missing.headers["content-type"] == "application/problem+json"


def test_the_probe_has_the_json_guards(api, auth, frames) -> None:  # noqa: F811
    assert _probe(api, "t", frames["front"]).json()["code"] == "hosted_session_required"
    _sid, _path, r = opened(api, auth, workflow="kyc_standard")
    token = csrf_of(r.text)
    _problem(_probe(api, token, frames["front"]), 409, "consent_required")
    consent(api, r.text)
    _problem(_probe(api, "wrong", frames["front"]), 403, "csrf_failed")
    other = _ready(api, auth, workflow="document_only")  # no selfie, no video: no probe
    _problem(_probe(api, other, frames["front"]), 422, "step_not_in_workflow")


def _rows(container) -> dict[str, int]:
    with container.db.read() as s:
        return {t.name: s.scalar(select(func.count()).select_from(t)) or 0
                for t in Base.metadata.sorted_tables}


def test_nothing_of_a_frame_is_kept(api, auth, container, frames, capfd,  # noqa: F811
                                    caplog, tmp_path, monkeypatch) -> None:
    caplog.set_level(logging.DEBUG)
    # The server's temporary files go to a folder of this test's own: the machine's /tmp is
    # shared with other tests and processes that may write the same sample photos.
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    token = _ready(api, auth)
    started = time.time()
    before, audit_before = _rows(container), _audit(container)
    sent = [frames["front"], frames["right"], frames["left"]]
    for i, frame in enumerate(sent * 2):
        _ok(_probe(api, token, frame, action="turn_left" if i % 2 else "look_straight"))
    assert _rows(container) == before  # no row written, anywhere
    assert _audit(container) == audit_before  # not even an audit event
    search = [n for data in sent for n in needles(data)]
    data_dir = container.settings.data_dir
    scanned = files_under(data_dir, started) + [
        p for p in files_under(own_tmp, started) if data_dir not in p.parents]
    for path in scanned:
        try:
            content = path.read_bytes()
        except OSError:
            continue
        assert not any(n in content for n in search), f"frame bytes found in {path}"
    out, err = capfd.readouterr()
    logs = (out + err).encode() + "\n".join(r.getMessage() for r in caplog.records).encode()
    assert not any(n in logs for n in search)


def _audit(container) -> int:
    with container.db.read() as s:
        return s.scalar(select(func.count()).select_from(AuditEventRow)) or 0


def test_probes_have_their_own_per_session_limit(settings, clock, frames) -> None:
    settings.security.rate_limits.session_probes = "5/minute"
    settings.security.rate_limits.per_link = "6/minute"
    container = build_container(settings, clock)
    container.keys.ensure_key()
    container.tenants.ensure("demo")
    container.hosted.settle_seconds = 0.0
    try:
        with TestClient(create_app(container), client=("198.51.100.60", 1)) as api:
            issued = container.clients.create("demo", "identity.verify identity.read_status",
                                              allowed_origins=["https://app.example"])
            headers = bearer(get_token(api, ApiClient(issued.client.id, issued.secret, "demo")))
            token = _ready(api, headers)  # the link, consent and the next page: 3 of 6
            assert [_probe(api, token, frames["front"]).status_code
                    for _ in range(5)] == [200] * 5
            refused = _probe(api, token, frames["front"])
            _problem(refused, 429, "rate_limited")
            assert refused.headers["ratelimit-policy"] == '"probe.session";q=5;w=60'
            assert int(refused.headers["retry-after"]) >= 1
            # The probes did not use up the page's own budget (per link): it still answers.
            assert api.get("/verify/s/status").status_code == 200
    finally:
        container.close()

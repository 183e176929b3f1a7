"""A full session (document with a real face portrait, selfie, liveness) leaves no selfie or
frame bytes anywhere: not in the database files, the blob store, the temp dir or the logs."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance
from sqlalchemy import select

from idproof.security.uploads import sanitize_image
from idproof.testing import DocumentGenerator
from idproof.verification.biometrics.engines import DlibFaceEngine
from idproof.verification.models import Capture
from tests.biometrics_data import fetch, jpeg_bytes, load, portrait_crop
from tests.helpers import bearer, get_token

WINDOW = 64


def needles(data: bytes) -> list[bytes]:
    """64-byte windows from the middle of the upload and of its re-encoded form."""
    out = []
    for blob in (data, sanitize_image(data).data):
        mid = len(blob) // 2
        out.append(blob[mid:mid + WINDOW])
    return out


def files_under(root: Path, since: float) -> list[Path]:
    found = []
    # os.walk, not rglob: a directory another test removes while we list it (a browser
    # profile in the temp dir) is skipped instead of ending the scan with an error.
    for dirpath, _dirs, names in os.walk(root, onerror=lambda _exc: None):
        for name in names:
            p = Path(dirpath) / name
            try:
                if p.is_file() and not p.is_symlink() and p.stat().st_mtime >= since - 1 \
                        and p.stat().st_size < 200 * 1024 * 1024:
                    found.append(p)
            except OSError:  # another process's file vanished meanwhile
                continue
    return found


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    folder = fetch()
    return {n: load(n, folder) for n in ("obama.jpg", "obama2.jpg")}


def test_full_session_leaves_no_biometric_bytes(api, make_client, container, photos, capfd,
                                                caplog) -> None:
    caplog.set_level(logging.DEBUG)
    started = time.time()
    auth = bearer(get_token(api, make_client(scopes="identity.verify identity.read_status")))
    img = photos["obama.jpg"]
    box = DlibFaceEngine().detect(np.asarray(img))[0].box
    doc = DocumentGenerator(seed=11).passport(
        portrait=portrait_crop(img, (box.left, box.top, box.right, box.bottom)))

    sid = api.post("/v1/sessions", json={"workflow": "kyc_standard", "reference": "p-1"},
                   headers=auth).json()["id"]
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("f.jpg", jpeg_bytes(doc.front), "image/jpeg")}, headers=auth)
    assert r.status_code == 202, r.text
    with container.db.read() as s:
        cap_id = s.scalar(select(Capture.id).where(Capture.session_id == sid))
    container.captures.process(sid, cap_id)  # what the worker does

    uploads: list[bytes] = []
    # Over 1 MB: Starlette's default multipart parser would spill such a part to disk.
    big = photos["obama2.jpg"]
    selfie = jpeg_bytes(big.resize((big.width * 3, big.height * 3)), 98)
    assert len(selfie) > 1024 * 1024
    uploads.append(selfie)
    r = api.post(f"/v1/sessions/{sid}/selfie", files={"file": ("s.jpg", selfie, "image/jpeg")},
                 headers=auth)
    assert r.status_code == 200, r.text
    assert next(s for s in r.json()["steps"] if s["step"] == "selfie")["state"] == "passed"

    # Liveness until the attempts run out: a still photo cannot turn its head.
    base = photos["obama2.jpg"].resize((420, 805))
    for attempt in range(3):
        cid = api.post(f"/v1/sessions/{sid}/liveness/challenge",
                       headers=auth).json()["challenge_id"]
        frames = [jpeg_bytes(ImageEnhance.Brightness(base).enhance(0.9 + 0.02 * i + attempt / 100),
                             90) for i in range(10)]
        uploads.extend(frames)
        r = api.post(f"/v1/sessions/{sid}/liveness",
                     data={"challenge_id": cid,
                           "timestamps": json.dumps([i * 250 for i in range(10)])},
                     files=[("frames", (f"{i}.jpg", f, "image/jpeg"))
                            for i, f in enumerate(frames)], headers=auth)
        assert r.status_code == 200, r.text
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 200, r.text
    decision = api.get(f"/v1/sessions/{sid}/decision", headers=auth).json()
    assert decision["decided"] is True, decision
    assert decision["face_match"] is True and decision["liveness_passed"] is False
    assert "liveness_failed" in decision["reasons"] and decision["status"] == "declined"

    # Every selfie and frame window, searched in every file written since the test began.
    search = [n for data in uploads for n in needles(data)]
    assert len(search) == 2 * 31 and all(len(n) == WINDOW for n in search)
    data_dir = container.settings.data_dir
    scanned = files_under(data_dir, started)
    assert any(p.suffix == ".db" or "idproof.db" in p.name for p in data_dir.rglob("*")) \
        or container.db.dialect == "postgresql"
    scanned += [p for p in files_under(Path(tempfile.gettempdir()), started)
                if data_dir not in p.parents]
    assert scanned
    control = False
    for path in scanned:
        try:
            content = path.read_bytes()
        except OSError:
            continue
        # Positive control: what the session did store (its audit trail) is found.
        control |= b"session.selfie_processed" in content
        for n in search:
            assert n not in content, f"biometric bytes found in {path}"
    assert control or container.db.dialect == "postgresql"
    out, err = capfd.readouterr()
    logs = (out + err).encode() + "\n".join(r.getMessage() for r in caplog.records).encode()
    for n in search:
        assert n not in logs
    # The sealed selfie template is gone with the decision.
    from idproof.verification.biometrics.models import SelfieTemplate

    with container.db.read() as s:
        assert s.get(SelfieTemplate, sid) is None
    # The document image itself was deleted at the decision too (retention default).
    assert not any(p.is_file() for p in (data_dir / "blobs").rglob("*"))

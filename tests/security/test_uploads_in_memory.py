"""Upload bytes never touch the disk in plaintext: every multipart route parses in memory."""

from __future__ import annotations

import os
import tempfile

import pytest

from tests.helpers import bearer, get_token

BIG = b"\xff\xd8\xff\xe0" + os.urandom(1_500_000)  # over Starlette's 1 MB spool threshold


@pytest.fixture
def rollovers(monkeypatch):  # type: ignore[no-untyped-def]
    """Every spooled temporary file that moved to disk (Starlette's parser uses these)."""
    seen: list[int] = []
    original = tempfile.SpooledTemporaryFile.rollover

    def rollover(self) -> None:  # type: ignore[no-untyped-def]
        seen.append(self._max_size)
        original(self)

    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", rollover)
    return seen


def test_api_document_upload_stays_in_memory(api, make_client, rollovers) -> None:
    auth = bearer(get_token(api, make_client()))
    sid = api.post("/v1/sessions", json={"reference": "u-1", "workflow": "document_only"},
                   headers=auth).json()["id"]
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("big.jpg", BIG, "image/jpeg")}, headers=auth)
    assert r.status_code == 422 and r.json()["code"] == "image_corrupt"
    assert rollovers == []


def test_hosted_uploads_stay_in_memory(api, rollovers) -> None:
    files = {"front": ("f.jpg", BIG, "image/jpeg"), "back": ("b.jpg", BIG, "image/jpeg")}
    r = api.post("/verify/s/documents", data={"csrf_token": "x", "document_type": "passport"},
                 files=files)
    assert r.status_code in (401, 403)  # no browser session; the body was parsed all the same
    r = api.post("/verify/s/selfie", data={"csrf_token": "x"},
                 files={"file": ("s.jpg", BIG, "image/jpeg")})
    assert r.status_code in (401, 403)
    assert rollovers == []


def test_malformed_multipart_is_a_clean_4xx(api, make_client) -> None:
    auth = bearer(get_token(api, make_client()))
    sid = api.post("/v1/sessions", json={"reference": "u-1", "workflow": "document_only"},
                   headers=auth).json()["id"]
    r = api.post(f"/v1/sessions/{sid}/documents", content=b"--x\r\nnot a part",
                 headers={**auth, "content-type": "multipart/form-data; boundary=x"})
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"] == "application/problem+json"

"""Helpers for review tests: sessions sent to `in_review` with the colour engines."""

from __future__ import annotations

from starlette.testclient import TestClient

from idproof.bootstrap import Container
from tests.colour_engines import capture


def run(container: Container, jobs: list[tuple[str, str]]) -> None:
    pending, jobs[:] = list(jobs), []
    for sid, cid in pending:
        container.captures.process(sid, cid)


def upload(api: TestClient, auth: dict[str, str], sid: str, kind: str, nonce: int) -> None:
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("d.jpg", capture(kind, nonce), "image/jpeg")}, headers=auth)
    assert r.status_code == 202, r.text


def unreadable_in_review(api: TestClient, auth: dict[str, str], container: Container,
                         jobs: list[tuple[str, str]], reference: str = "u-1") -> str:
    """A document_only session submitted while its unreadable document was being read:
    it goes to review with `document_unreadable`."""
    r = api.post("/v1/sessions", json={"workflow": "document_only", "reference": reference},
                 headers=auth)
    assert r.status_code == 201, r.text
    sid = str(r.json()["id"])
    upload(api, auth, sid, "unreadable", 1)
    assert api.post(f"/v1/sessions/{sid}/submit", headers=auth).status_code == 200
    run(container, jobs)
    body = api.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert body["status"] == "in_review", body
    return sid


def duplicate_in_review(api: TestClient, auth: dict[str, str], container: Container,
                        jobs: list[tuple[str, str]]) -> tuple[str, str]:
    """Two sessions showing the same document: the second goes to review with
    `duplicate_document`. Returns (first, second)."""
    ids = []
    for n in range(2):
        container.captures._reader.count = 0  # type: ignore[attr-defined]  # same number
        r = api.post("/v1/sessions", json={"workflow": "document_only",
                                           "reference": f"dup-{n}"}, headers=auth)
        sid = str(r.json()["id"])
        upload(api, auth, sid, "good", 10 + n)
        run(container, jobs)
        assert api.post(f"/v1/sessions/{sid}/submit", headers=auth).status_code == 200
        ids.append(sid)
    body = api.get(f"/v1/sessions/{ids[1]}", headers=auth).json()
    assert body["status"] == "in_review" and "duplicate_document" in \
        body["steps"][0]["reasons"], body
    return ids[0], ids[1]

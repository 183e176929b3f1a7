"""Retakes through the hosted pages: an unreadable document comes back with the reason, up to
the workflow's limit; then the session is decided with that reason (the worker runs)."""

from __future__ import annotations

import io
import re
import time

import pytest
from PIL import Image

from tests.helpers import bearer, get_token

pytestmark = pytest.mark.slow


@pytest.fixture
def worker(container):
    container.jobs.start_consumer(workers=1)
    yield container
    container.jobs.stop_consumer()


def blank_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 180, 160)).save(buf, format="JPEG")
    return buf.getvalue()


def page_when_settled(api, timeout: float = 60.0) -> str:
    """The flow page once the worker has read the last upload (bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api.get("/verify/s/status").json()
        if state["page"] not in {"waiting", "submit"}:
            return str(api.get("/verify/s").text)
        time.sleep(0.2)
    raise AssertionError("the document was not read in time")


def test_unreadable_document_retried_then_ends_with_the_reason(api, make_client, worker
                                                               ) -> None:
    auth = bearer(get_token(api, make_client()))
    created = api.post("/v1/sessions", json={"reference": "u-r", "workflow": "document_only"},
                       headers=auth).json()
    page = api.get(created["url"].removeprefix("http://testserver")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    api.post("/verify/s/consent", data={"csrf_token": token, "agree": "yes",
                                        "version": "2026-11-1"})
    for attempt in (1, 2, 3):
        r = api.post("/verify/s/documents", data={"csrf_token": token,
                                                  "document_type": "passport"},
                     files={"front": ("f.jpg", blank_jpeg(), "image/jpeg")},
                     follow_redirects=False)
        assert r.status_code == 303, r.text
        page = page_when_settled(api)
        if attempt < 3:
            assert 'data-page="document"' in page
            assert "could not be read" in page and f"attempt {attempt + 1} of 3" in page
    # The limit is reached: the step failed, the session was submitted and decided.
    assert 'data-page="done"' in page
    decision = api.get(f"/v1/sessions/{created['id']}/decision", headers=auth).json()
    assert decision["status"] == "in_review"
    assert "document_unreadable" in decision["reasons"]


def test_a_retake_is_asked_for_in_the_upload_response_on_the_same_step(api, make_client,
                                                                        worker) -> None:
    # No polling by the test: the upload's own answer leads back to the document page with
    # the reason, before the person has seen the next step.
    auth = bearer(get_token(api, make_client()))
    created = api.post("/v1/sessions", json={"reference": "u-s", "workflow": "document_selfie"},
                       headers=auth).json()
    page = api.get(created["url"].removeprefix("http://testserver")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    api.post("/verify/s/consent", data={"csrf_token": token, "agree": "yes",
                                        "version": "2026-11-1"})
    worker.hosted.settle_seconds = 60.0  # a bound for a loaded machine
    r = api.post("/verify/s/documents", data={"csrf_token": token, "document_type": "passport"},
                 files={"front": ("f.jpg", blank_jpeg(), "image/jpeg")})
    assert r.status_code == 200 and 'data-page="document"' in r.text, r.text[:300]
    assert "could not be read" in r.text and "attempt 2 of 3" in r.text
    assert 'data-page="selfie"' not in r.text


def test_a_slow_worker_does_not_hold_the_person_past_the_bound(api, make_client,
                                                               container) -> None:
    # No worker at all here: the upload answers after `settle_seconds` and the person goes on
    # to the selfie (its page polls and comes back if a retake is asked for later).
    auth = bearer(get_token(api, make_client()))
    created = api.post("/v1/sessions", json={"reference": "u-t", "workflow": "document_selfie"},
                       headers=auth).json()
    page = api.get(created["url"].removeprefix("http://testserver")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    api.post("/verify/s/consent", data={"csrf_token": token, "agree": "yes",
                                        "version": "2026-11-1"})
    container.hosted.settle_seconds = 0.5
    t0 = time.monotonic()
    r = api.post("/verify/s/documents", data={"csrf_token": token, "document_type": "passport"},
                 files={"front": ("f.jpg", blank_jpeg(), "image/jpeg")})
    assert time.monotonic() - t0 >= 0.5
    assert r.status_code == 200 and 'data-page="selfie"' in r.text

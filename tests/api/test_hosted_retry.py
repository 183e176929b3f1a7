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

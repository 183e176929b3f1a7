"""The web SDK's modal on the same site: the close button covers nothing, Escape and the
close button ask first (and the cancel reaches the server), and onComplete comes once the
person has seen the final screen and closed it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from idproof.verification.models import SessionStep
from tests.e2e.test_hosted_flow import CHROMIUM, Server
from tests.e2e.test_sdk_cross_site import _app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    yield srv
    srv.stop()


def _session(server: Server, origin: str) -> tuple[str, str, str]:
    from idproof.verification.schemas import CreateSession
    from idproof.verification.service import Actor

    issued = server.container.clients.create("demo", "identity.verify",
                                             allowed_origins=[origin])
    view, url, _ = server.container.sessions.create(
        Actor(tenant_id=issued.client.tenant_id, client_id=issued.client.id),
        CreateSession(workflow="document_only", reference="modal"))
    return view.id, url, issued.client.tenant_id


def _log_has(page: Any, text: str) -> None:
    page.wait_for_function(f"document.getElementById('log').textContent.includes({text!r})")


def _open(page: Any, origin: str, url: str, tmp_path: Path) -> Any:
    index = tmp_path / "site" / "index.html"
    html = index.read_text()
    start = html.index('data-url="') + len('data-url="')
    index.write_text(html[:start] + url + html[html.index('"', start):])
    page.goto(f"{origin}/")
    page.click("#open")
    handle = page.wait_for_selector("iframe")
    frame = handle.content_frame() if handle else None
    assert frame is not None
    return frame


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_modal_close_asks_first_and_complete_waits_for_the_person(
        server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    httpd, origin = _app(tmp_path, server.url, "about:blank", host="127.0.0.1")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page()
                page.set_default_timeout(30_000)
                sid, url, tenant = _session(server, origin)
                frame = _open(page, origin, url, tmp_path)
                frame.check("#agree")
                frame.click("#consent-submit")
                frame.wait_for_selector("#document-form")
                _log_has(page, "step document")
                close = page.get_by_role("button", name="Close")
                assert not _overlap(close.bounding_box(), page.locator("iframe").bounding_box())
                assert frame.is_visible(".progress")
                # Escape asks; "No, continue" goes back and nothing is cancelled.
                frame.press("#document_type", "Escape")
                frame.wait_for_selector("#cancel-confirm")
                frame.click("#cancel-back")
                frame.wait_for_selector("#document-form")
                assert server.container.sessions.get(tenant, sid).status == "in_progress"
                # The close button asks too; confirming cancels on the server.
                close.click()
                frame.wait_for_selector("#cancel-confirm")
                frame.click("#cancel-confirm")
                _log_has(page, "cancel ")
                assert f"cancel {sid} cancelled" in page.inner_text("#log")
                assert page.query_selector("iframe") is None
                assert server.container.sessions.get(tenant, sid).status == "cancelled"

                # A decided session: the final screen stays until the person closes it.
                sid, url, tenant = _session(server, origin)
                frame = _open(page, origin, url, tmp_path)
                frame.check("#agree")
                frame.click("#consent-submit")
                frame.wait_for_selector("#document-form")
                with server.container.db.session() as s:
                    step = s.scalar(select(SessionStep).where(SessionStep.session_id == sid))
                    assert step is not None
                    step.state, step.reasons = "failed", ["document_expired"]
                frame.goto(f"{server.url}/verify/s")
                frame.wait_for_selector("#reasons")
                page.wait_for_timeout(500)
                assert f"complete {sid}" not in page.inner_text("#log")
                frame.click("#sdk-close")
                _log_has(page, f"complete {sid} declined")
                assert page.query_selector("iframe") is None
            finally:
                browser.close()
    finally:
        httpd.shutdown()

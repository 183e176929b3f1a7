"""The web SDK embedded by a page of another site: the frame hands off to a window of its own
(first-party, so the SameSite=Strict cookie works), relays its messages, and Escape in the
integrating page asks there before the server records the cancel."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.e2e.test_hosted_flow import CHROMIUM, Server, _free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

APP_JS = """
document.getElementById("open").addEventListener("click", function () {
  var log = document.getElementById("log");
  function add(line) { log.textContent += line + "\\n"; }
  Idproof.open({
    url: document.body.getAttribute("data-url"), mode: "modal",
    onStep: function (e) { add("step " + e.page); },
    onComplete: function (e) { add("complete " + e.sessionId + " " + e.status); },
    onCancel: function (e) { add("cancel " + e.sessionId + " " + e.status); },
    onError: function (e) { add("error " + e.code); }
  });
});
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    yield srv
    srv.stop()


def _app(tmp: Path, idproof: str, url: str, host: str = "localhost"
         ) -> tuple[http.server.ThreadingHTTPServer, str]:
    site = tmp / "site"
    site.mkdir()
    (site / "app.js").write_text(APP_JS)
    (site / "index.html").write_text(
        f'<!doctype html><html lang="en"><body data-url="{url}"><button id="open">Verify'
        f'</button><pre id="log"></pre><script src="{idproof}/sdk/idproof.js"></script>'
        '<script src="/app.js"></script></body></html>')
    port = _free_port()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://{host}:{port}"  # localhost vs 127.0.0.1: another site


def test_cross_site_modal_hands_off_and_escape_cancels_on_the_server(
        server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from idproof.verification.schemas import CreateSession
    from idproof.verification.service import Actor

    httpd, origin = _app(tmp_path, server.url, "about:blank")
    issued = server.container.clients.create("demo", "identity.verify",
                                             allowed_origins=[origin])
    view, url, _ = server.container.sessions.create(
        Actor(tenant_id=issued.client.tenant_id, client_id=issued.client.id),
        CreateSession(workflow="document_only", reference="x-site"))
    index = tmp_path / "site" / "index.html"
    index.write_text(index.read_text().replace("about:blank", url))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page()
                page.set_default_timeout(30_000)
                page.goto(f"{origin}/")
                page.click("#open")
                handle = page.wait_for_selector("iframe")
                frame = handle.content_frame() if handle else None
                assert frame is not None
                frame.wait_for_selector("#handoff-open")
                page.wait_for_function(
                    "document.getElementById('log').textContent.includes('step handoff')")
                with page.expect_popup() as popup_info:
                    frame.click("#handoff-open")
                popup = popup_info.value
                popup.wait_for_selector("#agree")
                popup.check("#agree")
                popup.click("#consent-submit")
                popup.wait_for_selector("#document-form")
                page.wait_for_function(
                    "document.getElementById('log').textContent.includes('step document')")
                page.bring_to_front()
                page.keyboard.press("Escape")  # asks in the window, nothing cancelled yet
                popup.wait_for_selector("#cancel-confirm")
                assert server.container.sessions.get(
                    issued.client.tenant_id, view.id).status == "in_progress"
                popup.click("#cancel-confirm")
                page.wait_for_function(
                    "document.getElementById('log').textContent.includes('cancel ')")
                log = page.inner_text("#log")
                assert f"cancel {view.id} cancelled" in log, log
                assert page.query_selector("iframe") is None  # the modal closed
            finally:
                browser.close()
    finally:
        httpd.shutdown()
    assert server.container.sessions.get(issued.client.tenant_id,
                                         view.id).status == "cancelled"


def test_cross_site_embed_completes_through_the_sdk(server: Server, tmp_path: Path) -> None:
    """The integrating page on localhost, idproof on 127.0.0.1: the person goes through in the
    hand-off window, sees the decision there, and onComplete fires in the integrating page."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from idproof.verification.schemas import CreateSession
    from idproof.verification.service import Actor
    from tests.e2e.walk import passport_jpeg

    httpd, origin = _app(tmp_path, server.url, "about:blank")
    assert origin.startswith("http://localhost:") and server.url.startswith("http://127.0.0.1:")
    issued = server.container.clients.create("demo", "identity.verify",
                                             allowed_origins=[origin])
    view, url, _ = server.container.sessions.create(
        Actor(tenant_id=issued.client.tenant_id, client_id=issued.client.id),
        CreateSession(workflow="document_only", reference="x-site-done"))
    index = tmp_path / "site" / "index.html"
    index.write_text(index.read_text().replace("about:blank", url))
    document = passport_jpeg(tmp_path / "passport.jpg", seed=21)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page()
                page.set_default_timeout(60_000)
                page.goto(f"{origin}/")
                page.click("#open")
                handle = page.wait_for_selector("iframe")
                frame = handle.content_frame() if handle else None
                assert frame is not None
                with page.expect_popup() as popup_info:
                    frame.click("#handoff-open")
                popup = popup_info.value
                popup.check("#agree")
                popup.click("#consent-submit")
                popup.select_option("#document_type", "passport")
                popup.set_input_files("#front", str(document))
                popup.click("#document-submit")
                popup.wait_for_selector("body[data-page='done']", timeout=90_000)
                assert "Thank you" in popup.inner_text("main")
                page.wait_for_timeout(500)  # the person has not closed the final screen yet
                assert "complete " not in page.inner_text("#log")
                try:
                    popup.click("#sdk-close")
                except PlaywrightError as closed:  # TargetClosedError, not exported
                    if "closed" not in str(closed):
                        raise
                    # The button closes its own window; Playwright may see the window go while it
                    # finishes the click. The effect is checked next, in the integrating page.
                page.wait_for_function(
                    "document.getElementById('log').textContent.includes('complete ')")
                log = page.inner_text("#log")
                assert f"complete {view.id} approved" in log, log
                assert "error" not in log and "step document" in log
                assert page.query_selector("iframe") is None
            finally:
                browser.close()
    finally:
        httpd.shutdown()
    assert server.container.sessions.get(issued.client.tenant_id,
                                         view.id).status == "approved"

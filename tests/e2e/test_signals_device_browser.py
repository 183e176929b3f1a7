"""The device collector (`/sdk/device.js`) in Debian's chromium driven by Playwright: its
attributes pass the API's schema, and an automated headless browser is flagged."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from idproof.signals.device import DeviceAttributes, automation_hints
from idproof.verification.models import VerificationSession
from tests.e2e.test_hosted_flow import CHROMIUM
from tests.helpers import bearer, get_token

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def collect(script: str) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--headless", "--no-sandbox",
                                           "--disable-background-networking"])
        try:
            page = browser.new_page(locale="fr-FR", timezone_id="Europe/Paris")
            page.set_content("<!doctype html><title>t</title>")
            page.add_script_tag(content=script)
            attrs: dict[str, object] = page.evaluate("idproofDevice()")
            again: dict[str, object] = page.evaluate("idproofDevice()")
        finally:
            browser.close()
    assert attrs == again  # stable within a page
    return attrs


def test_collector_output_is_accepted_and_automation_is_flagged(api: TestClient,
                                                                make_client) -> None:  # type: ignore[no-untyped-def]
    js = api.get("/sdk/device.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    attrs = collect(js.text)
    device = DeviceAttributes.model_validate(attrs)  # the API's schema, extra fields refused
    assert device.timezone == "Europe/Paris" and device.languages[:1] == ["fr-FR"]
    assert len(device.canvas_hash) == 16 and device.screen_width > 0
    hints = automation_hints(device)
    assert "navigator.webdriver" in hints  # Playwright's chromium says so itself
    auth = bearer(get_token(api, make_client(scopes="identity.verify identity.read_status")))
    sid = api.post("/v1/sessions", json={"reference": "e2e"}, headers=auth).json()["id"]
    r = api.post(f"/v1/sessions/{sid}/signals", json={"ip": "192.0.2.1", "device": attrs},
                 headers=auth)
    assert r.status_code == 200, r.text
    assert "automation_suspected" in r.json()["reasons"]


def test_the_hosted_page_posts_the_device_signal_under_its_csp(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The hosted flow's capture page loads /sdk/device.js and /sdk/device-post.js under
    the strict CSP (script-src 'self') and posts to the session: its signals then hold the
    device (headless Chromium: automation_suspected) and the client's IP."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_hosted_a11y import _link
    from tests.e2e.test_hosted_flow import Server

    server = Server(tmp_path)
    problems: list[str] = []
    try:
        sid, url = _link(server, "document_only")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--headless", "--no-sandbox"])
            try:
                page = browser.new_page()
                page.set_default_timeout(30_000)
                page.on("console", lambda m: problems.append(m.text)
                        if m.type == "error" else None)
                page.goto(url)
                assert page.locator("script[src='/sdk/device.js']").count() == 0  # consent
                page.check("#agree")
                page.click("#consent-submit")
                page.wait_for_selector("#document-form")
                page.wait_for_selector("body[data-device-posted='1']")
                assert page.locator("script[src='/sdk/device.js']").count() == 1
                # Once per browser session: a reload does not post again.
                page.reload()
                page.wait_for_selector("#document-form")
                page.wait_for_timeout(500)
                assert page.get_attribute("body", "data-device-posted") is None
            finally:
                browser.close()
        with server.container.db.read() as s:
            tenant = s.get(VerificationSession, sid).tenant_id  # type: ignore[union-attr]
        report = server.container.signals.result(tenant, sid)
        assert report.signals["device_seen"] is True and report.signals["ip_seen"] is True
        assert "automation_suspected" in report.reasons
        assert "navigator.webdriver" in report.signals["automation_hints"]
        assert len(server.container.audit.list(action="signals.assessed")) == 1
    finally:
        server.stop()
    assert not [p for p in problems if "Content Security Policy" in p], problems

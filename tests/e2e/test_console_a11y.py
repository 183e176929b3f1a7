"""Every console work page in headless Chromium: axe-core finds no serious or critical
violation, the dashboard draws its charts, and a role without a page gets 403 and no data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from idproof.verification.schemas import CreateSession
from idproof.verification.service import Actor
from tests.api.test_console_workflows import definition
from tests.e2e.test_console_browser import ARGS, CHROMIUM, PASSWORD, Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path)
    yield s
    s.stop()


def _enrol(page: Any, url: str) -> None:
    import pyotp

    page.goto(url.replace("127.0.0.1", "localhost"))
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/console/enroll/mfa")
    uri = page.locator("#otpauth").inner_text()
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    page.get_by_label("6-digit code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("link", name="continue to the console").click()
    page.wait_for_url("**/console/")


def _serious(axe: Any, page: Any) -> list[str]:
    result = axe.run(page)
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
            for v in result.response["violations"] if v["impact"] in {"serious", "critical"}]


def _seed(server: Server) -> str:
    c = server.container
    issued = c.clients.create("demo", "identity.verify")
    view, _, _ = c.sessions.create(Actor(tenant_id=issued.client.tenant_id,
                                         client_id=issued.client.id),
                                   CreateSession(workflow="document_only", reference="a11y"))
    c.audit_log.checkpoint()
    return str(view.id)


def test_every_console_page_is_accessible(server: Server) -> None:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    sid = _seed(server)
    demo = server.container.tenants.find("demo")
    assert demo is not None
    server.container.workflows.create(demo.id, "eu_flow", definition())
    changed = definition()
    changed["flow"]["decision"][2]["reasons"] = ["face_near_threshold"]
    server.container.workflows.add_version(demo.id, "eu_flow", changed)
    server.container.webhooks.allow_private_networks = True
    owner = server.container.operators.create("owner@example.com", "owner", None)
    axe = Axe()
    found: dict[str, list[str]] = {}
    too_wide: dict[str, int] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            *ARGS, "--host-resolver-rules=MAP localhost 127.0.0.1"])
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 768})  # a tablet
            page.set_default_timeout(30_000)
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            _enrol(page, owner.enrollment_url)

            def visit(name: str, path: str) -> None:
                problems.clear()
                page.goto(server.url + path)
                page.wait_for_selector("h1")
                found[name] = _serious(axe, page)
                # usable on a tablet: nothing runs past the 1024 px viewport
                width = page.evaluate("document.documentElement.scrollWidth")
                if width > 1024:
                    too_wide[name] = width

            for name, path in [("home", "/console/"), ("account", "/console/account"),
                               ("review", "/console/review"), ("case", f"/console/review/{sid}"),
                               ("sessions", "/console/sessions"),
                               ("dashboard", "/console/dashboard"),
                               ("clients", "/console/clients"),
                               ("webhooks", "/console/webhooks"),
                               ("audit", "/console/audit"),
                               ("checkpoints", "/console/audit/checkpoints"),
                               ("settings", "/console/settings"),
                               ("workflows", "/console/workflows"),
                               ("template", "/console/workflows/document_selfie"),
                               ("workflow builder", "/console/workflows/eu_flow?version=1"),
                               ("workflow diff", "/console/workflows/eu_flow/diff"),
                               ("branding", "/console/settings/branding")]:
                visit(name, path)
                if name == "dashboard":
                    # one session started: the outcome and funnel charts are drawn
                    desc = page.locator("#outcomes-desc").text_content() or ""
                    assert desc.startswith("started: 1")
                    assert page.locator("figure.chart svg").count() >= 2
                    # the vendored uPlot draws them (canvas) under the strict CSP
                    page.wait_for_selector("figure.chart.drawn canvas")
                    assert page.locator("figure.chart.drawn canvas").count() >= 2
                    assert page.locator("figure.chart.drawn svg[hidden]").count() >= 2
                    assert problems == []  # no script error, no CSP refusal
                if name in {"template", "workflow builder"}:
                    # the vendored Drawflow draws the graph under the strict CSP
                    page.wait_for_selector("#canvas .drawflow-node")
                    page.wait_for_selector("#check-result:not(:empty)")
                    found[name] = _serious(axe, page)
                    # (Chromium asks for /favicon.ico, which the console does not serve)
                    assert [p for p in problems if "status of 404" not in p] == [], problems
            # the builder with an inline validation error, and the simulator's result
            page.goto(server.url + "/console/workflows/eu_flow?version=1")
            page.select_option("#f-node", "face")
            page.get_by_label("Condition (CEL) to live, empty for otherwise").fill("face.nope")
            page.wait_for_selector("#cel-face-0-error:not([hidden])")
            found["builder error"] = _serious(axe, page)
            page.select_option("select[name=state_document]", "passed")
            page.get_by_role("button", name="Simulate").click()
            page.wait_for_selector("#simulation")
            found["simulation"] = _serious(axe, page)
            # pages after an action: a secret shown once, a proof verified, deliveries
            page.goto(server.url + "/console/clients")
            page.get_by_label("identity.verify").check()
            page.get_by_role("button", name="Create").click()
            page.wait_for_selector("#new-secret")
            found["client secret"] = _serious(axe, page)
            page.get_by_role("link", name="Edit").first.click()
            page.wait_for_selector("h1")
            page.get_by_label("analytics.read").check()
            page.get_by_role("button", name="Save").click()
            page.wait_for_selector("text=API client saved")
            found["client edit"] = _serious(axe, page)
            page.goto(server.url + "/console/webhooks")
            page.get_by_label("URL (public https)").fill(f"http://127.0.0.1:{server.port}/hook")
            page.get_by_label("session.decided").check()
            page.get_by_role("button", name="Add").click()
            page.wait_for_selector("#new-secret")
            found["webhook secret"] = _serious(axe, page)
            page.get_by_role("link", name="Deliveries").first.click()
            page.wait_for_selector("h1")
            found["deliveries"] = _serious(axe, page)
            server.container.audit_log.checkpoint()  # covers the events just made
            page.goto(server.url + "/console/audit?action=client.created")
            page.get_by_role("link", name="Verify").first.click()
            page.wait_for_selector(".proof-check")
            assert "Verified" in page.locator(".proof-check h2").inner_text()
            found["proof"] = _serious(axe, page)
        finally:
            browser.close()
    assert {k: v for k, v in found.items() if v} == {}, found
    assert len(found) == 23
    assert too_wide == {}, too_wide


def test_a_role_without_a_page_gets_403_and_no_data(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    _seed(server)
    client_id = server.container.clients.list("demo")[0].id
    dev = server.container.operators.create("dev@example.com", "developer", ["demo"])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            *ARGS, "--host-resolver-rules=MAP localhost 127.0.0.1"])
        try:
            page = browser.new_page()
            _enrol(page, dev.enrollment_url)
            for path in ("/console/audit", "/console/settings", "/console/sessions",
                         "/console/workflows", "/console/workflows/document_only"):
                response = page.goto(server.url + path)
                assert response is not None and response.status == 403, path
                assert client_id not in page.content() and "client.created" not in page.content()
            response = page.goto(server.url + "/console/clients")
            assert response is not None and response.status == 200
            assert client_id in page.content()
        finally:
            browser.close()

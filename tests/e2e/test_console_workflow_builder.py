"""The workflow builder in real headless Chromium: build a two-branch workflow by dragging a
connection in the Drawflow canvas and typing its CEL condition, see the server's validator
flag a bad expression inline, publish, then run one hosted session down each branch."""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from idproof.bootstrap import Container, prepare
from idproof.config import Settings
from idproof.testing import DocumentGenerator, random_identity
from idproof.verification.models import VerificationSession
from idproof.verification.schemas import CreateSession
from idproof.verification.service import Actor
from idproof.web.app import create_app
from tests.conftest import TEST_SECRET
from tests.e2e.test_console_a11y import _enrol
from tests.e2e.test_hosted_flow import CHROMIUM, FLOW_TIMEOUT_MS, _free_port
from tests.e2e.test_hosted_flow import Server as HostedServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--host-resolver-rules=MAP localhost 127.0.0.1"]
WID = "by_country"


class Server(HostedServer):
    """The hosted-flow server (uvicorn and the job consumer) named "localhost": the
    console checks the origin of its forms against the public URL."""

    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.url = f"http://localhost:{self.port}"
        settings = Settings(data_dir=tmp / "data", secret_key=TEST_SECRET, public_url=self.url)
        self.container: Container = prepare(settings)
        self.container.jobs.start_consumer(workers=2)
        config = uvicorn.Config(create_app(self.container), host="127.0.0.1", port=self.port,
                                log_config=None, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    yield srv
    srv.stop()


def _passport(tmp: Path, country: str, seed: int) -> Path:
    today = date.today()
    ident = random_identity(random.Random(seed), today=today, country=country)
    front = DocumentGenerator(seed=seed, today=today).passport(ident).front
    buf = io.BytesIO()
    front.convert("RGB").save(buf, format="JPEG", quality=92)
    path = tmp / f"passport-{country}.jpg"
    path.write_bytes(buf.getvalue())
    return path


def _build(page: Any, url: str) -> None:
    """Copy the document-only template, add a review step, connect it by dragging."""
    page.goto(url + "/console/workflows")
    page.get_by_label("New id for a copy of document_only").fill(WID)
    page.get_by_role("button", name="Copy document_only").click()
    page.wait_for_selector("#canvas .drawflow-node")
    assert "created (version 1, a draft)" in page.inner_text("main")
    # a review step, added with the panel (keyboard-usable)
    page.select_option("#f-new-type", "review")
    page.fill("#f-new-id", "manual")
    page.click("#b-add-step")
    page.wait_for_selector("#canvas .drawflow-node:has-text('manual (review)')")
    page.fill("#f-reasons", "country_review")
    page.press("#f-reasons", "Tab")
    # drag from the document step's output to the review step's input
    doc = page.locator("#canvas .drawflow-node:has-text('document (document)')")
    manual = page.locator("#canvas .drawflow-node:has-text('manual (review)')")
    manual_box = manual.bounding_box()
    doc_box = doc.bounding_box()
    assert manual_box and doc_box
    if abs(manual_box["y"] - doc_box["y"]) < 60:  # keep the two apart for the drag
        page.mouse.move(manual_box["x"] + 20, manual_box["y"] + 10)
        page.mouse.down()
        page.mouse.move(manual_box["x"] + 20, manual_box["y"] + 200, steps=5)
        page.mouse.up()
    doc.locator(".output_1").hover()
    page.mouse.down()
    manual.locator(".input_1").hover()
    page.mouse.up()
    assert page.locator("#canvas svg.connection").count() == 2
    # the new transition comes before "otherwise" and waits for its condition: a bad one
    # is flagged inline by the server's validator, naming the step and the expression
    cond = page.get_by_label("Condition (CEL) to manual, empty for otherwise")
    cond.fill("document.issuing_country == 3")
    page.wait_for_selector("#cel-document-0-error:not([hidden])")
    assert cond.get_attribute("aria-invalid") == "true"
    assert "step document, transition 1" in page.inner_text("#check-result")
    assert page.locator("#canvas .drawflow-node.has-error").count() == 1
    cond.fill('document.issuing_country == "USA"')
    page.wait_for_selector("#check-result.ok")
    assert page.locator("#canvas .drawflow-node.has-error").count() == 0
    with page.expect_navigation():
        page.click("#save-draft")
    assert "Saved as draft version 2" in page.inner_text("main")
    table = page.inner_text("#graph-table")
    assert 'manual when document.issuing_country == "USA"' in table, table
    with page.expect_navigation():
        page.click("#publish-2")
    assert "Version 2 is published" in page.inner_text("main")


def _run(server: Server, browser: Any, document: Path) -> tuple[str, list[str]]:
    """A hosted session on the published workflow: consent, the passport, the decision."""
    c = server.container
    issued = c.clients.create("demo", "identity.verify")
    view, link, _ = c.sessions.create(Actor(tenant_id=issued.client.tenant_id,
                                            client_id=issued.client.id),
                                      CreateSession(workflow=WID, reference="builder"))
    assert view.workflow_version == 2
    page = browser.new_page(locale="en-GB")
    page.set_default_timeout(FLOW_TIMEOUT_MS)
    try:
        page.goto(link)
        page.check("#agree")
        with page.expect_navigation():
            page.click("#consent-submit")
        page.select_option("#document_type", "passport")
        page.set_input_files("#front", str(document))
        with page.expect_navigation():
            page.click("#document-submit")
        page.wait_for_selector("body[data-page='done']")
    finally:
        page.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with c.db.read() as s:
            row = s.get(VerificationSession, view.id)
            assert row is not None
            if row.status in {"approved", "declined", "in_review"}:
                return row.status, list((row.decision or {}).get("reasons", []))
        time.sleep(0.2)
    raise AssertionError("no decision")


def test_build_publish_and_run_both_branches(server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    admin = server.container.operators.create("admin@example.com", "admin", ["demo"])
    url = server.url
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            problems: list[str] = []
            # script errors and CSP refusals; Chromium also logs its favicon request and the
            # check's 422 answers (the bad condition typed on purpose): those are expected
            expected = ("/favicon.ico", "/check")
            page.on("console", lambda m: problems.append(f"{m.text} at {m.location['url']}")
                    if m.type == "error" and not m.location["url"].endswith(expected)
                    else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            _enrol(page, admin.enrollment_url)
            _build(page, url)
            assert problems == [], "\n".join(problems)  # no script error, no CSP refusal
            page.close()
            usa = _run(server, browser, _passport(tmp_path, "USA", 3))
            deu = _run(server, browser, _passport(tmp_path, "DEU", 4))
        finally:
            browser.close()
    # USA: down the review branch, with the review step's reason; DEU: straight to the end
    # Headless Chromium reports navigator.webdriver, and both sessions come from one browser
    # with two identities: the hosted page's device signal adds `automation_suspected` and
    # `device_reused` to the reasons (this graph's rules do not act on them).
    signal_reasons = {"automation_suspected", "device_reused"}
    assert usa[0] == "in_review" and usa[1][0] == "country_review", usa
    assert set(usa[1]) - {"country_review"} <= signal_reasons, usa
    assert deu[0] == "approved" and set(deu[1]) <= signal_reasons, deu


def test_the_panel_alone_builds_a_branch_with_the_keyboard(server: Server) -> None:
    """No pointer: a step added, connected and given a condition from the panel; the JSON
    (what Save submits) and the canvas follow."""
    import json

    from playwright.sync_api import sync_playwright

    admin = server.container.operators.create("admin@example.com", "admin", ["demo"])
    demo = server.container.tenants.find("demo")
    assert demo is not None
    server.container.workflows.create(demo.id, "kb_flow", {
        "title": "Keyboard", "minimum_age": 18, "max_attempts": 3,
        "document": {"types": ["passport"], "countries": None},
        "flow": {"start": "doc", "nodes": {"doc": {"type": "document", "next": [{"to": "end"}]},
                                           "end": {"type": "end"}},
                 "decision": [{"id": "ok", "action": "approve", "when": "passed"}]}})
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            _enrol(page, admin.enrollment_url)
            page.goto(server.url + "/console/workflows/kb_flow")
            page.wait_for_selector("#check-result.ok")
            page.select_option("#f-new-type", "review")
            page.focus("#f-new-id")
            page.keyboard.type("desk")
            page.focus("#b-add-step")
            page.keyboard.press("Enter")
            page.wait_for_selector("#canvas .drawflow-node:has-text('desk (review)')")
            page.select_option("#f-node", "doc")
            page.select_option("#f-connect", "desk")
            page.focus("#b-connect")
            page.keyboard.press("Enter")
            cond = page.get_by_label("Condition (CEL) to desk, empty for otherwise")
            cond.focus()
            page.keyboard.type("document.age < 25")
            page.keyboard.press("Tab")
            page.wait_for_selector("#check-result.ok")
            saved = json.loads(page.input_value("#definition"))
            assert saved["flow"]["nodes"]["doc"]["next"] == [
                {"to": "desk", "when": "document.age < 25"}, {"to": "end"}]
            assert saved["flow"]["nodes"]["desk"] == {"type": "review"}
            assert page.locator("#canvas svg.connection").count() == 2
            with page.expect_navigation():
                page.click("#save-draft")
            assert "Saved as draft version 2" in page.inner_text("main")
        finally:
            browser.close()

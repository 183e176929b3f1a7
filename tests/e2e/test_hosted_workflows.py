"""Every built-in workflow walked to its decision on a desktop and on a phone viewport, and the
flow stopping early on a duplicate document, in real headless Chromium with a fake camera."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.test_hosted_flow import Server, faces  # noqa: F401 - the fixture
from tests.e2e.walk import DESKTOP, MOBILE, launch, passport_jpeg, walk
from tests.e2e.y4m import write_y4m

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# kyc_standard on a desktop is walked (through the SDK) in test_hosted_flow.py; its liveness
# refuses a clip of stills after three tries, the slowest walk, so once here is enough.
VIEWS = {"desktop": (DESKTOP, ("document_only", "age_check", "document_selfie")),
         "mobile": (MOBILE, ("document_only", "age_check", "document_selfie", "kyc_standard"))}
EXPECTED = {"document_only": ["consent", "document", "done"],
            "age_check": ["consent", "document", "done"],
            "document_selfie": ["consent", "document", "selfie", "done"],
            "kyc_standard": ["consent", "document", "selfie", "liveness", "done"]}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    yield srv
    srv.stop()


def _clip(faces: Path, tmp: Path) -> Path:  # noqa: F811
    return write_y4m(tmp / "selfie.y4m", [Image.open(faces / "obama2.jpg")])


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_every_workflow_reaches_its_decision(server: Server, tmp_path: Path,
                                             faces: Path, view: str) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    options, workflows = VIEWS[view]
    portrait = Image.open(faces / "obama.jpg")
    statuses: dict[str, str] = {}
    with sync_playwright() as pw:
        browser = launch(pw, _clip(faces, tmp_path))
        try:
            for i, workflow in enumerate(workflows):
                document = passport_jpeg(tmp_path / f"p{i}.jpg", portrait, seed=40 + i)
                tenant, sid, url = _new(server, workflow)
                context = browser.new_context(**options)
                walked = walk(context, url, document)
                width = context.pages[0].viewport_size["width"] if context.pages else None
                context.close()
                seen = [p for p in walked.pages if p not in {"waiting", "submit"}]
                deduped = [p for j, p in enumerate(seen) if j == 0 or seen[j - 1] != p]
                assert deduped == EXPECTED[workflow], (workflow, walked.pages)
                assert width is None or width == options["viewport"]["width"]
                statuses[workflow] = server.container.sessions.get(tenant, sid).status
        finally:
            browser.close()
    expected = {w: "approved" for w in workflows}
    if "kyc_standard" in expected:
        expected["kyc_standard"] = "declined"  # a clip of still photos is no live person
    assert statuses == expected


def _new(server: Server, workflow: str) -> tuple[str, str, str]:
    """(tenant id, session id, link) of a new session."""
    from idproof.verification.schemas import CreateSession
    from idproof.verification.service import Actor

    issued = server.container.clients.create("demo", "identity.verify")
    tenant = issued.client.tenant_id
    view, url, _ = server.container.sessions.create(
        Actor(tenant_id=tenant, client_id=issued.client.id),
        CreateSession(workflow=workflow, reference="walk"))
    return tenant, view.id, str(url)


def test_a_duplicate_document_ends_the_flow_on_the_selfie_page(
        server: Server, tmp_path: Path, faces: Path) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    document = passport_jpeg(tmp_path / "same.jpg", Image.open(faces / "obama.jpg"), seed=77)
    with sync_playwright() as pw:
        browser = launch(pw, _clip(faces, tmp_path))
        try:
            first = walk(browser.new_context(), _new(server, "document_only")[2], document)
            assert "Thank you" in first.final_text
            # The same passport again: the document job finds the duplicate while the person
            # is on the selfie page, which moves to the decision by itself (no selfie taken).
            tenant, sid, url = _new(server, "kyc_standard")
            page: Any = browser.new_context(**MOBILE).new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            page.check("#agree")
            page.click("#consent-submit")
            page.select_option("#document_type", "passport")
            page.set_input_files("#front", str(document))
            page.click("#document-submit")
            page.wait_for_selector("body[data-page='done']", timeout=90_000)
            text = page.inner_text("main")
        finally:
            browser.close()
    assert "being reviewed" in text and "liveness" not in text.lower()
    view = server.container.sessions.get(tenant, sid)
    assert view.status == "in_review"
    assert [e.action for e in server.container.audit.list(action="hosted.stopped_early")] == [
        "hosted.stopped_early"]

"""In Debian Chromium: a duplicate-document case from the queue to a four-eyes decision by two
reviewers, with the `session.reviewed` and `session.decided` webhooks received and verified."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from idproof.bootstrap import Container, build_container
from idproof.config import Settings
from idproof.db.migrate import upgrade
from idproof.verification.service import Actor
from idproof.web.app import create_app
from idproof.webhooks.schemas import CreateEndpoint
from idproof.webhooks.service import Caller
from tests.colour_engines import ColourFaces, ColourReader
from tests.conftest import TEST_SECRET
from tests.e2e.test_console_a11y import _enrol
from tests.e2e.test_console_browser import ARGS, CHROMIUM, _free_port
from tests.helpers import ApiClient, bearer, get_token
from tests.review_support import duplicate_in_review
from tests.task_log import TaskLog
from tests.webhook_receiver import Receiver, start_receiver, stop_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class ColourServer:
    """idproof with the colour engines, served by uvicorn for the browser, plus an in-process
    client of the same services for the API calls that make the case."""

    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.url = f"http://localhost:{self.port}"
        settings = Settings(data_dir=tmp / "data", secret_key=TEST_SECRET, public_url=self.url,
                            webhook_allow_private_networks=True)
        (tmp / "data").mkdir(parents=True, exist_ok=True)
        upgrade(settings.sqlalchemy_url())
        self.tasks = TaskLog("process_capture")  # document jobs run by the test
        self.container: Container = build_container(settings, document_reader=ColourReader(),
                                                    face_analyzer=ColourFaces(), tasks=self.tasks)
        self.tasks.forward = self.container.jobs
        self.container.keys.ensure_key()
        self.container.tenants.ensure("demo")
        self.jobs = self.tasks.of("process_capture")
        config = uvicorn.Config(create_app(self.container), host="127.0.0.1", port=self.port,
                                log_config=None, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.container.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ColourServer]:
    s = ColourServer(tmp_path)
    yield s
    s.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = start_receiver()
    yield rec
    stop_receiver(rec)


def _decide(page: Any, decision: str) -> str:
    page.get_by_label({"approved": "Approve", "declined": "Decline"}[decision],
                      exact=True).check()
    page.get_by_role("button", name="Submit decision").click()
    page.wait_for_selector(".notice, .error")
    return str(page.locator("main").inner_text())


def test_duplicate_case_four_eyes_to_verified_webhooks(server: ColourServer,
                                                       receiver: Receiver) -> None:
    from playwright.sync_api import sync_playwright

    c = server.container
    demo = c.tenants.get("demo").id
    c.sessions.set_review_settings(Actor(tenant_id=demo, client_id="setup"), sla_hours=24,
                                   four_eyes=True)
    endpoint = c.webhooks.create_endpoint(Caller(tenant_id=demo), CreateEndpoint(
        url=receiver.url(), event_types=["session.reviewed", "session.decided"]))
    issued = c.clients.create("demo", "identity.verify identity.read_status")
    with TestClient(create_app(c), client=("127.0.0.1", 50000)) as api:
        auth = bearer(get_token(api, ApiClient(issued.client.id, issued.secret, "demo")))
        _, dup = duplicate_in_review(api, auth, c, server.jobs)
    first = c.operators.create("ann@example.com", "reviewer", ["demo"])
    second = c.operators.create("bob@example.com", "reviewer", ["demo"])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            *ARGS, "--host-resolver-rules=MAP localhost 127.0.0.1"])
        try:
            ann = browser.new_context().new_page()
            ann.set_default_timeout(30_000)
            _enrol(ann, first.enrollment_url)
            ann.goto(server.url + "/console/review")
            row = ann.locator("tr", has_text=dup)
            assert "duplicate_document" in row.inner_text()
            row.get_by_role("link", name=dup).click()
            ann.get_by_role("button", name="Take").click()
            assert "second reviewer must confirm" in _decide(ann, "approved")
            assert c.sessions.get(demo, dup).status == "in_review"

            bob = browser.new_context().new_page()
            bob.set_default_timeout(30_000)
            _enrol(bob, second.enrollment_url)
            bob.goto(server.url + "/console/review")
            assert "awaiting 2nd reviewer" in bob.locator("tr", has_text=dup).inner_text()
            bob.goto(server.url + f"/console/review/{dup}")
            assert "The session is now approved" in _decide(bob, "approved")
        finally:
            browser.close()
    for delivery_id in c.webhooks.pending_due():
        assert c.webhooks.deliver(delivery_id) == "delivered"
    got = {}
    for req in receiver.received:
        Webhook(endpoint.secret).verify(req.body, req.headers)  # signed, unaltered
        body = json.loads(req.body)
        got[body["type"]] = body
    assert set(got) == {"session.reviewed", "session.decided"}
    assert dup in json.dumps(got["session.decided"]) and "TESTER" not in json.dumps(got)

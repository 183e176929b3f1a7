"""The console in headless Debian Chromium: enrol with TOTP, sign in and out; enrol a passkey
through Chromium's virtual authenticator (CDP WebAuthn) and sign in with it alone."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import uvicorn

from idproof.bootstrap import Container, prepare
from idproof.config import Settings
from idproof.web.app import create_app
from tests.conftest import TEST_SECRET

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "plum-orbit-canyon-42"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        # "localhost", not an IP: WebAuthn needs a domain as its RP id.
        self.url = f"http://localhost:{self.port}"
        settings = Settings(data_dir=tmp / "data", secret_key=TEST_SECRET, public_url=self.url)
        self.container: Container = prepare(settings)
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
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path)
    yield s
    s.stop()


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM,
                               args=[*ARGS, "--host-resolver-rules=MAP localhost 127.0.0.1"])
        yield b
        b.close()


def _fresh_code(secret: str, last: str | None) -> str:
    """A TOTP code different from the last one used (waits for the next 30 s step)."""
    while True:
        code = pyotp.TOTP(secret).now()
        if code != last:
            return code
        time.sleep(1)


def test_enrol_with_totp_sign_in_and_out(server: Server, browser: object) -> None:
    issued = server.container.operators.create("a@example.com", "analyst", ["demo"])
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(issued.enrollment_url.replace("127.0.0.1", "localhost"))
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/console/enroll/mfa")
    assert page.locator("img.qr").get_attribute("src", timeout=5000).startswith(
        "data:image/svg+xml")
    uri = page.locator("#otpauth").inner_text()
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    code = pyotp.TOTP(secret).now()
    page.get_by_label("6-digit code from the app").fill(code)
    page.get_by_role("button", name="Confirm").click()
    assert page.locator("code.recovery-code").count() == 10
    page.get_by_role("link", name="continue to the console").click()
    page.wait_for_url("**/console/")
    assert "analyst" in page.content()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/login")

    page.get_by_label("Email").fill("a@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/console/mfa")
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(
        _fresh_code(secret, code))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/console/")
    page.goto(server.url + "/console/account")
    assert "Sign out everywhere" in page.content()
    page.get_by_role("button", name="Sign out everywhere").click()
    page.wait_for_url("**/console/login")


def test_passkey_enrolment_and_passkey_only_sign_in(server: Server, browser: object) -> None:
    issued = server.container.operators.create("p@example.com", "auditor")
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    page.goto(issued.enrollment_url)
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/console/enroll/mfa")
    page.get_by_role("button", name="Create a passkey").click()
    page.wait_for_selector("code.recovery-code", timeout=15000)
    assert server.container.operators.get(issued.operator.id).passkeys == 1
    page.get_by_role("link", name="continue to the console").click()
    page.wait_for_url("**/console/")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/login")

    # Username-less: no email, no password, the passkey alone.
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url("**/console/", timeout=15000)
    assert "auditor" in page.content()
    actions = [e.action for e in server.container.audit.list(limit=1000)]
    assert actions.count("operator.signed_in") >= 1
    context.close()

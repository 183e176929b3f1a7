"""Console sign-in guards in headless Chromium: lockout after 10 failures, idle and absolute
session expiry, passkey assertions from another origin or from a cloned authenticator, and a
passkey step-up."""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from idproof.operators.models import OperatorPasskey
from tests.e2e.console_server import PASSWORD, ClockedServer, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--host-resolver-rules=MAP localhost 127.0.0.1"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ClockedServer]:
    s = ClockedServer(tmp_path)
    yield s
    s.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _password(page: Any, server: ClockedServer, email: str, password: str) -> None:
    page.goto(server.url + "/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_load_state()


def _sign_in(page: Any, server: ClockedServer, email: str, secret: str) -> None:
    _password(page, server, email, PASSWORD)
    page.wait_for_url("**/console/mfa")
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(
        server.code(secret))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/console/")


def _actions(server: ClockedServer) -> list[tuple[str, str]]:
    return [(e.action, e.outcome) for e in server.container.audit.list(limit=1000)]


def test_lockout_after_ten_failures(server: ClockedServer, browser: Any) -> None:
    secret = server.enrolled("lock@example.com")
    page = browser.new_page()
    for attempt in range(10):
        _password(page, server, "lock@example.com", f"wrong-password-{attempt}")
        assert "not right" in page.get_by_role("alert").inner_text()
        server.clock.advance(61)  # past the growing delay, so that every failure counts
    # Locked: the right password is refused too, with the time to wait.
    _password(page, server, "lock@example.com", PASSWORD)
    alert = page.get_by_role("alert").inner_text()
    assert "Too many failed sign-ins" in alert and "/console/login" in page.url
    assert ("operator.signin_locked", "alert") in _actions(server)
    # The same page for an email that does not exist: nothing says which one is locked.
    _password(page, server, "nobody@example.com", PASSWORD)
    assert "not right" in page.get_by_role("alert").inner_text()
    server.clock.advance(15 * 60 + 1)
    _sign_in(page, server, "lock@example.com", secret)
    assert "analyst" in page.content()


def test_idle_and_absolute_session_expiry(server: ClockedServer, browser: Any) -> None:
    secret = server.enrolled("expiry@example.com")
    page = browser.new_page()
    _sign_in(page, server, "expiry@example.com", secret)
    server.clock.advance(29 * 60)
    page.goto(server.url + "/console/account")
    assert page.url.endswith("/console/account")  # used within 30 min: still signed in
    server.clock.advance(31 * 60)
    page.goto(server.url + "/console/account")
    page.wait_for_url("**/console/login")  # idle for 31 min: gone
    # Absolute: used every 25 minutes, the session still ends 12 hours after sign-in.
    _sign_in(page, server, "expiry@example.com", secret)
    for _ in range(28):  # 28 x 25 min = 11 h 40 min
        server.clock.advance(25 * 60)
        page.goto(server.url + "/console/")
        assert page.url.endswith("/console/"), page.url
    server.clock.advance(25 * 60)
    page.goto(server.url + "/console/")
    page.wait_for_url("**/console/login")


_GET_ASSERTION = """async (o) => {
  const buf = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")
    + "=".repeat((4 - s.length % 4) % 4)), c => c.charCodeAt(0)).buffer;
  const b64 = (b) => btoa(String.fromCharCode(...new Uint8Array(b)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const cred = await navigator.credentials.get({publicKey: {
    challenge: buf(o.challenge), rpId: o.rpId, userVerification: "required",
    allowCredentials: []}});
  const r = cred.response;
  return JSON.stringify({id: cred.id, rawId: b64(cred.rawId), type: cred.type,
    clientExtensionResults: {}, response: {clientDataJSON: b64(r.clientDataJSON),
    authenticatorData: b64(r.authenticatorData), signature: b64(r.signature),
    userHandle: r.userHandle ? b64(r.userHandle) : undefined}});
}"""


def _authenticator(context: Any, page: Any) -> tuple[Any, str]:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    return cdp, added["authenticatorId"]


def _passkey_operator(server: ClockedServer, context: Any, page: Any) -> None:
    issued = server.container.operators.create("pk@example.com", "auditor")
    page.goto(issued.enrollment_url)
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/console/enroll/mfa")
    page.get_by_role("button", name="Create a passkey").click()
    page.wait_for_selector("code.recovery-code", timeout=15000)
    context.clear_cookies()


def _passkey_sign_in(page: Any, server: ClockedServer) -> None:
    page.context.clear_cookies()  # signed out: the sign-in page, not the console home
    page.goto(server.url + "/console/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_load_state()


def test_cloned_authenticator_is_refused(server: ClockedServer, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    cdp, auth_id = _authenticator(context, page)
    _passkey_operator(server, context, page)
    # The "clone": the credential with its private key and counter, copied at this moment.
    [copy] = cdp.send("WebAuthn.getCredentials", {"authenticatorId": auth_id})["credentials"]
    _passkey_sign_in(page, server)
    page.wait_for_url("**/console/", timeout=15000)
    _passkey_sign_in(page, server)  # the original is used again: its counter moves on
    page.wait_for_url("**/console/", timeout=15000)
    with server.container.db.read() as s:
        stored = s.scalar(select(OperatorPasskey.sign_count))
    assert stored is not None and stored > copy["signCount"]  # the counter moved on
    # The clone answers with a counter the server has already seen.
    cdp.send("WebAuthn.clearCredentials", {"authenticatorId": auth_id})
    cdp.send("WebAuthn.addCredential", {"authenticatorId": auth_id, "credential": copy})
    _passkey_sign_in(page, server)
    page.wait_for_selector("[role=alert]", timeout=15000)
    assert "could not be verified" in page.get_by_role("alert").inner_text()
    assert "/console/login" in page.url
    assert all(c["name"] != "idproof_console" for c in context.cookies(server.url))
    failed = [e.details for e in server.container.audit.list(limit=1000)
              if e.action == "operator.signin_failed"]
    assert failed and failed[-1]["factor"] == "passkey"
    assert failed[-1]["reason"] == "InvalidAuthenticationResponse"
    context.close()


class _Blank(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>another site</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


def test_assertion_made_for_another_origin_is_refused(server: ClockedServer,
                                                      browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    _authenticator(context, page)
    _passkey_operator(server, context, page)
    other = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Blank)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        # idproof's own challenge, asked for as its sign-in page does...
        page.goto(server.url + "/console/login")
        token = page.locator("#passkey-login input[name=csrf_token]").get_attribute("value")
        options = context.request.post(server.url + "/console/login/passkey/options",
                                       headers={"X-CSRF-Token": token}).json()
        # ...signed by the passkey on a page of another origin (same host, so the same RP id,
        # as a look-alike site on a sibling port or subdomain would be).
        page.goto(f"http://localhost:{other.server_address[1]}/")
        credential = page.evaluate(_GET_ASSERTION, options)
        r = context.request.post(server.url + "/console/login/passkey",
                                 form={"credential": credential, "csrf_token": token})
        assert r.status == 401 and "could not be verified" in r.text()
        assert all(c["name"] != "idproof_console" for c in context.cookies(server.url))
        failed = [e.details for e in server.container.audit.list(limit=1000)
                  if e.action == "operator.signin_failed"]
        assert failed[-1]["reason"] == "InvalidAuthenticationResponse"
        # The same ceremony on idproof's own origin signs in: only the origin differed.
        page.goto(server.url + "/console/login")
        token = page.locator("#passkey-login input[name=csrf_token]").get_attribute("value")
        options = context.request.post(server.url + "/console/login/passkey/options",
                                       headers={"X-CSRF-Token": token}).json()
        credential = page.evaluate(_GET_ASSERTION, options)
        r = context.request.post(server.url + "/console/login/passkey",
                                 form={"credential": credential, "csrf_token": token})
        assert r.status == 200 and r.url.endswith("/console/")
    finally:
        other.shutdown()
        context.close()


def test_passkey_step_up_returns_to_the_page(server: ClockedServer, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    _authenticator(context, page)
    _passkey_operator(server, context, page)
    _passkey_sign_in(page, server)
    page.wait_for_url("**/console/", timeout=15000)
    server.clock.advance(400)  # the second factor is older than 5 minutes
    page.goto(server.url + "/console/step-up?next=/console/account")
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(lambda url: url == server.url + "/console/account", timeout=15000)
    steps = [e.details for e in server.container.audit.list(limit=1000)
             if e.action == "operator.step_up"]
    assert steps and steps[-1]["factor"] == "passkey"
    context.close()

"""Driving the console's forms without a browser (as scripts do): CSRF, enrolment, sign-in."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pyotp
from starlette.testclient import TestClient

from idproof.core.clock import FrozenClock

PASSWORD = "plum-orbit-canyon-42"


def csrf(page: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m, page
    return m.group(1)


def otpauth(page: str) -> str:
    m = re.search(r'<code id="otpauth" class="otpauth">([^<]+)</code>', page)
    assert m, page
    return html.unescape(m.group(1))


def totp_secret(page: str) -> str:
    return parse_qs(urlsplit(otpauth(page)).query)["secret"][0]


def codes(page: str) -> list[str]:
    return re.findall(r'<code class="recovery-code">([^<]+)</code>', page)


def enroll_totp(api: TestClient, url: str, clock: FrozenClock,
                password: str = PASSWORD) -> tuple[str, list[str]]:
    """Enrol through the forms: password, TOTP; returns (TOTP secret, recovery codes)."""
    path = urlsplit(url).path
    page = api.get(path)
    assert page.status_code == 200, page.text
    r = api.post(path, data={"password": password, "password_confirm": password,
                             "csrf_token": csrf(page.text)})
    assert r.status_code == 200 and r.url.path == "/console/enroll/mfa", r.text
    secret = totp_secret(r.text)
    r = api.post("/console/enroll/mfa", data={"code": pyotp.TOTP(secret).at(clock.timestamp()),
                                              "csrf_token": csrf(r.text)})
    assert r.status_code == 200, r.text
    found = codes(r.text)
    assert len(found) == 10
    return secret, found


def sign_in(api: TestClient, email: str, secret: str, clock: FrozenClock,
            password: str = PASSWORD) -> None:
    page = api.get("/console/login")
    r = api.post("/console/login", data={"email": email, "password": password,
                                         "csrf_token": csrf(page.text)})
    assert r.url.path == "/console/mfa", r.text
    clock.advance(30)  # a fresh TOTP step
    r = api.post("/console/mfa", data={"code": pyotp.TOTP(secret).at(clock.timestamp()),
                                       "csrf_token": csrf(r.text)})
    assert r.url.path == "/console/", r.text


def sign_out(api: TestClient) -> None:
    page = api.get("/console/")
    r = api.post("/console/logout", data={"csrf_token": csrf(page.text)})
    assert r.url.path == "/console/login"

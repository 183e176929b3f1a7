"""Step-up through the forms: the second factor asked again, then back to the page asked for
(a console page only); a wrong or replayed code changes nothing."""

from __future__ import annotations

import pyotp
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.core.clock import FrozenClock
from tests.console_helpers import csrf, enroll_totp


def test_step_up_returns_to_the_page(api: TestClient, container: Container,
                                     clock: FrozenClock) -> None:
    issued = container.operators.create("rev@example.com", "reviewer", ["demo"])
    secret, _ = enroll_totp(api, issued.enrollment_url, clock)
    clock.advance(400)
    page = api.get("/console/step-up", params={"next": "/console/account"})
    assert page.status_code == 200
    assert '<input type="hidden" name="next" value="/console/account">' in page.text
    assert 'data-options="/console/step-up/passkey/options"' in page.text
    before = api.cookies.get("idproof_console")
    bad = api.post("/console/step-up", data={"code": "000000", "next": "/console/account",
                                             "csrf_token": csrf(page.text)})
    assert bad.status_code == 401 and api.cookies.get("idproof_console") == before
    code = pyotp.TOTP(secret).at(clock.timestamp())
    r = api.post("/console/step-up", data={"code": code, "next": "/console/account",
                                           "csrf_token": csrf(page.text)},
                 follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/account"
    assert api.cookies.get("idproof_console") != before  # rotated
    steps = [e for e in container.audit.list(limit=1000) if e.action == "operator.step_up"]
    assert len(steps) == 1 and steps[0].details["factor"] == "totp"
    # The same code again (replay) is refused; a foreign `next` goes home.
    page = api.get("/console/step-up", params={"next": "//evil.example"})
    assert 'name="next" value="/console/"' in page.text
    again = api.post("/console/step-up", data={"code": code, "next": "/console/account",
                                               "csrf_token": csrf(page.text)})
    assert again.status_code == 401
    clock.advance(30)
    r = api.post("/console/step-up", data={
        "code": pyotp.TOTP(secret).at(clock.timestamp()), "next": "https://evil.example/",
        "csrf_token": csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/"

"""The console through its forms: enrolment, sign-in with TOTP and recovery codes, sessions,
CSRF, lockout, disabled operators, the route table's policies, audit events."""

from __future__ import annotations

import json

import pyotp
import pytest
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.core.clock import FrozenClock
from idproof.operators.policy import Action
from idproof.operators.router import PUBLIC, ROUTE_POLICIES, STAGE_ENROLLING, STAGE_MFA
from idproof.web.app import create_app
from tests.console_helpers import PASSWORD, codes, csrf, enroll_totp, sign_in, sign_out

EMAIL = "reviewer@example.com"


def actions(container: Container) -> list[str]:
    return [e.action for e in container.audit.list(limit=1000)]


@pytest.fixture
def operator(container: Container) -> tuple[str, str]:
    issued = container.operators.create(EMAIL, "reviewer", ["demo"])
    return issued.operator.id, issued.enrollment_url


def test_enrol_sign_in_sign_out(api: TestClient, container: Container, clock: FrozenClock,
                                operator: tuple[str, str]) -> None:
    op_id, url = operator
    secret, recovery = enroll_totp(api, url, clock)
    assert container.operators.get(op_id).status == "active"
    home = api.get("/console/")
    assert home.status_code == 200 and "reviewer" in home.text
    csp = home.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    cookie = api.cookies.get("idproof_console")
    assert cookie
    sign_out(api)
    # The old cookie is dead even if replayed.
    api.cookies.clear()
    api.cookies.set("idproof_console", cookie)
    assert api.get("/console/").url.path == "/console/login"
    api.cookies.clear()
    # The enrolment link worked once.
    again = api.get(url.removeprefix("http://testserver"))
    assert again.status_code == 410

    sign_in(api, EMAIL, secret, clock)
    assert api.get("/console/account").status_code == 200
    sign_out(api)

    # A recovery code signs in once; then it is gone.
    for expected in ("/console/", "/console/mfa"):
        page = api.get("/console/login")
        r = api.post("/console/login", data={"email": EMAIL, "password": PASSWORD,
                                             "csrf_token": csrf(page.text)})
        r = api.post("/console/mfa", data={"code": recovery[0], "csrf_token": csrf(r.text)})
        assert r.url.path == expected
        if expected == "/console/":
            sign_out(api)
        else:
            assert r.status_code == 401
    done = actions(container)
    for action in ("operator.created", "operator.password_set", "operator.mfa_enrolled",
                   "operator.enrolled", "operator.signed_in", "operator.signed_out",
                   "operator.mfa_failed", "operator.password_verified"):
        assert action in done, action
    events = container.audit.list(limit=1000)
    assert all(e.actor_type == "operator" for e in events if e.action.startswith("operator."))
    assert EMAIL not in json.dumps([e.details for e in events])


def test_totp_replay_refused(api: TestClient, container: Container, clock: FrozenClock,
                             operator: tuple[str, str]) -> None:
    secret, _ = enroll_totp(api, operator[1], clock)
    sign_out(api)
    page = api.get("/console/login")
    r = api.post("/console/login", data={"email": EMAIL, "password": PASSWORD,
                                         "csrf_token": csrf(page.text)})
    # The code used at enrolment, still inside its 30 s step: refused.
    code = pyotp.TOTP(secret).at(clock.timestamp())
    r = api.post("/console/mfa", data={"code": code, "csrf_token": csrf(r.text)})
    assert r.status_code == 401 and r.url.path == "/console/mfa"
    clock.advance(30)
    code = pyotp.TOTP(secret).at(clock.timestamp())
    r = api.post("/console/mfa", data={"code": code, "csrf_token": csrf(r.text)})
    assert r.url.path == "/console/"
    sign_out(api)
    page = api.get("/console/login")
    r = api.post("/console/login", data={"email": EMAIL, "password": PASSWORD,
                                         "csrf_token": csrf(page.text)})
    r = api.post("/console/mfa", data={"code": code, "csrf_token": csrf(r.text)})
    assert r.status_code == 401


def test_password_rules_on_the_form(api: TestClient, operator: tuple[str, str]) -> None:
    path = operator[1].removeprefix("http://testserver")
    page = api.get(path)
    for pw, confirm, text in [("short", "short", "12 characters"),
                              ("Password1234!", "Password1234!", "too common"),
                              ("plum-orbit-canyon-42", "plum-orbit-canyon-43", "not the same")]:
        r = api.post(path, data={"password": pw, "password_confirm": confirm,
                                 "csrf_token": csrf(page.text)})
        assert r.status_code == 422 and text in r.text
    assert api.get(path).status_code == 200  # nothing used up


def test_csrf_required(api: TestClient, clock: FrozenClock, operator: tuple[str, str]) -> None:
    path = operator[1].removeprefix("http://testserver")
    api.get(path)
    r = api.post(path, data={"password": PASSWORD, "password_confirm": PASSWORD})
    assert r.status_code == 403
    r = api.post(path, data={"password": PASSWORD, "password_confirm": PASSWORD,
                             "csrf_token": "0" * 64})
    assert r.status_code == 403
    assert api.get(path).status_code == 200
    _secret, _ = enroll_totp(api, operator[1], clock)
    r = api.post("/console/account/recovery-codes", data={"csrf_token": "nope"})
    assert r.status_code == 403
    r = api.post("/console/logout", data={})
    assert r.status_code == 403
    assert api.get("/console/").status_code == 200  # still signed in: nothing changed
    r = api.post("/console/login", data={"email": EMAIL, "password": PASSWORD})
    assert r.status_code == 403


def test_no_page_without_mfa_and_forged_cookie(api: TestClient, operator: tuple[str, str]
                                              ) -> None:
    for path in ("/console/", "/console/account", "/console/mfa", "/console/enroll/mfa"):
        r = api.get(path)
        assert r.url.path == "/console/login", path
    api.cookies.set("idproof_console", "forged-" + "x" * 40)
    assert api.get("/console/").url.path == "/console/login"
    # Password alone (stage mfa) opens no console page.
    api.cookies.clear()


def test_password_only_session_opens_nothing(api: TestClient, clock: FrozenClock,
                                             operator: tuple[str, str]) -> None:
    _secret, _ = enroll_totp(api, operator[1], clock)
    sign_out(api)
    page = api.get("/console/login")
    r = api.post("/console/login", data={"email": EMAIL, "password": PASSWORD,
                                         "csrf_token": csrf(page.text)})
    assert r.url.path == "/console/mfa"
    assert api.get("/console/").url.path == "/console/login"


def test_wrong_password_and_unknown_email_look_the_same(api: TestClient,
                                                         operator: tuple[str, str]) -> None:
    page = api.get("/console/login")
    a = api.post("/console/login", data={"email": EMAIL, "password": "wrong password!",
                                         "csrf_token": csrf(page.text)})
    b = api.post("/console/login", data={"email": "nobody@example.com",
                                         "password": "wrong password!",
                                         "csrf_token": csrf(page.text)})
    assert a.status_code == b.status_code == 401
    assert a.text.replace(csrf(a.text), "") == b.text.replace(csrf(b.text), "")


def test_lockout_after_ten_failures(api: TestClient, container: Container,
                                    clock: FrozenClock, operator: tuple[str, str]) -> None:
    secret, _ = enroll_totp(api, operator[1], clock)
    sign_out(api)
    page = api.get("/console/login")
    token = csrf(page.text)
    statuses = []
    for _ in range(10):
        r = api.post("/console/login", data={"email": EMAIL, "password": "wrong password!",
                                             "csrf_token": token})
        statuses.append(r.status_code)
        if r.status_code == 429:
            clock.advance(int(r.headers["retry-after"]))
            r = api.post("/console/login", data={"email": EMAIL,
                                                 "password": "wrong password!",
                                                 "csrf_token": token})
            statuses[-1] = r.status_code
    assert statuses == [401] * 10
    # Locked: even the right password is refused for 15 minutes.
    r = api.post("/console/login", data={"email": EMAIL, "password": PASSWORD,
                                         "csrf_token": token})
    assert r.status_code == 429 and "Try again" in r.text
    assert "operator.signin_locked" in actions(container)
    clock.advance(15 * 60 + 1)
    sign_in(api, EMAIL, secret, clock)


def test_session_idle_and_absolute_timeouts(api: TestClient, clock: FrozenClock,
                                            operator: tuple[str, str]) -> None:
    secret, _ = enroll_totp(api, operator[1], clock)
    clock.advance(29 * 60)
    assert api.get("/console/").status_code == 200
    clock.advance(31 * 60)
    assert api.get("/console/").url.path == "/console/login"
    sign_in(api, EMAIL, secret, clock)
    for _ in range(12 * 4):
        clock.advance(15 * 60)
        r = api.get("/console/")
    assert r.url.path == "/console/login"


def test_disabled_operator_loses_live_session(api: TestClient, container: Container,
                                              clock: FrozenClock,
                                              operator: tuple[str, str]) -> None:
    _secret, _ = enroll_totp(api, operator[1], clock)
    assert api.get("/console/").status_code == 200
    container.operators.disable(operator[0])
    assert api.get("/console/").url.path == "/console/login"
    page = api.get("/console/login")
    r = api.post("/console/login", data={"email": EMAIL, "password": PASSWORD,
                                         "csrf_token": csrf(page.text)})
    assert r.status_code == 401


def test_reset_mfa_revokes_sessions_and_issues_a_new_link(
        api: TestClient, container: Container, clock: FrozenClock,
        operator: tuple[str, str]) -> None:
    enroll_totp(api, operator[1], clock)
    issued = container.operators.reset_mfa(operator[0])
    assert api.get("/console/").url.path == "/console/login"
    assert api.get(operator[1].removeprefix("http://testserver")).status_code == 410
    enroll_totp(api, issued.enrollment_url, clock, password="another-fine-passphrase")


def test_account_page_codes_and_sign_out_everywhere(
        container: Container, clock: FrozenClock, operator: tuple[str, str]) -> None:
    app = create_app(container)
    with TestClient(app) as one, TestClient(app) as two:
        secret, old = enroll_totp(one, operator[1], clock)
        sign_in(two, EMAIL, secret, clock)
        page = one.get("/console/account")
        assert page.text.count("UTC") >= 2 and "Sign out everywhere" in page.text
        r = one.post("/console/account/recovery-codes", data={"csrf_token": csrf(page.text)})
        new = codes(r.text)
        assert len(new) == 10 and not set(new) & set(old)
        r = one.post("/console/account/factors/remove",
                     data={"factor": "totp", "csrf_token": csrf(r.text)})
        assert r.status_code == 409  # the last factor stays
        r = one.post("/console/account/sign-out-everywhere",
                     data={"csrf_token": csrf(r.text)})
        assert r.url.path == "/console/login"
        assert two.get("/console/").url.path == "/console/login"
    assert "operator.sessions_revoked" in actions(container)


def test_every_console_route_has_a_policy(container: Container) -> None:
    app = create_app(container)
    stages = {PUBLIC, STAGE_MFA, STAGE_ENROLLING} | {a.value for a in Action}
    seen = 0

    def walk(routes: list[object]) -> list[object]:
        out: list[object] = []
        for r in routes:
            inner = getattr(r, "original_router", None)
            out.extend(walk(list(inner.routes)) if inner is not None else [r])
        return out

    for r in walk(list(app.routes)):
        path = getattr(r, "path", "")
        if not path.startswith("/console"):
            continue
        for method in getattr(r, "methods", set()) - {"HEAD"}:
            seen += 1
            policy = ROUTE_POLICIES.get((method, path))
            assert policy in stages, f"{method} {path} has no policy"
    assert seen >= 20


def test_unknown_and_expired_links(api: TestClient, container: Container, clock: FrozenClock,
                                   operator: tuple[str, str]) -> None:
    assert api.get("/console/enroll/nonsense").status_code == 404
    clock.advance(24 * 3600 + 1)
    r = api.get(operator[1].removeprefix("http://testserver"))
    assert r.status_code == 410 and "expired" in r.text


def test_https_cookies_are_host_prefixed_and_secure(tmp_path, db_url: str,
                                                    clock: FrozenClock) -> None:
    from idproof.bootstrap import build_container
    from idproof.config import Settings
    from tests.conftest import TEST_SECRET

    settings = Settings(data_dir=tmp_path / "data", database_url=db_url,
                        secret_key=TEST_SECRET, public_url="https://testserver")
    c = build_container(settings, clock)
    try:
        c.tenants.ensure("demo")
        issued = c.operators.create(EMAIL, "analyst")
        with TestClient(create_app(c), base_url="https://testserver") as tc:
            page = tc.get(issued.enrollment_url.removeprefix("https://testserver"))
            pre = page.headers["set-cookie"]
            assert pre.startswith("__Host-idproof_console_pre=")
            r = tc.post(issued.enrollment_url.removeprefix("https://testserver"),
                        data={"password": PASSWORD, "password_confirm": PASSWORD,
                              "csrf_token": csrf(page.text)}, follow_redirects=False)
            cookie = r.headers["set-cookie"]
            assert cookie.startswith("__Host-idproof_console=")
            for attr in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
                assert attr.lower() in cookie.lower(), attr
            assert "domain=" not in cookie.lower()
    finally:
        c.close()

"""Operator single sign-on end to end against a real OpenID provider (oidc-provider, Node):
authorization code + PKCE, groups to roles, MFA from `amr` or asked locally, bad callbacks."""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pyotp
import pytest
from starlette.testclient import TestClient

from idproof.bootstrap import Container, build_container
from idproof.config import OidcRoleRule, OidcSettings, Settings
from idproof.core.clock import FrozenClock
from idproof.web.app import create_app
from tests.conftest import unavailable
from tests.console_helpers import csrf, totp_secret

REPO = Path(__file__).resolve().parents[2]
CLIENT_ID, CLIENT_SECRET = "idproof-console", "idp-test-secret-0123456789"
ACCOUNTS = {
    "alice": {"email": "alice@example.com", "email_verified": True, "groups": ["idp-reviewers"]},
    "bob": {"email": "bob@example.com", "email_verified": True, "groups": ["idp-analysts"]},
    "carol": {"email": "carol@example.com", "email_verified": True,
              "groups": ["idp-auditors", "idp-admins"]},
    "dave": {"email": "dave@example.com", "email_verified": True, "groups": ["marketing"]},
    "erin": {"email": "erin@example.com", "email_verified": False, "groups": ["idp-analysts"]},
}
RULES = [OidcRoleRule(group="idp-admins", role="admin", tenants=["demo"]),
         OidcRoleRule(group="idp-reviewers", role="reviewer", tenants=["demo"]),
         OidcRoleRule(group="idp-auditors", role="auditor"),
         OidcRoleRule(group="idp-analysts", role="analyst", tenants=["demo"])]


@pytest.fixture(scope="module")
def idp() -> Iterator[str]:
    """oidc-provider installed by the benchmarks' npm helper and run as a child process."""
    sys.path.insert(0, str(REPO / "bench"))
    from _common import ServerProcess, free_port  # type: ignore[import-not-found]
    from _node import node_dir  # type: ignore[import-not-found]

    folder, why = node_dir()
    if folder is None:
        unavailable(f"oidc-provider cannot run: {why}")
    assert folder is not None
    shutil.copyfile(REPO / "tests" / "peers" / "oidc_idp.mjs", folder / "oidc_idp.mjs")
    port = free_port()
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "PORT": str(port), "CLIENT_ID": CLIENT_ID,
           "CLIENT_SECRET": CLIENT_SECRET, "ACCOUNTS": json.dumps(ACCOUNTS),
           "REDIRECT_URI": "http://testserver/console/login/oidc/callback"}
    server = ServerProcess("oidc-idp", ["node", "oidc_idp.mjs"], env, port, cwd=folder)
    try:
        server.wait_ready("/.well-known/openid-configuration")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _sso_settings(settings: Settings, issuer: str, client_id: str = CLIENT_ID) -> Settings:
    oidc = OidcSettings(issuer=issuer, client_id=client_id, client_secret=CLIENT_SECRET,
                        roles=RULES, mfa_amr=["mfa"])
    return settings.model_copy(update={
        "operators": settings.operators.model_copy(update={"oidc": oidc})})


def _app(settings: Settings, clock: FrozenClock) -> Iterator[tuple[TestClient, Container]]:
    container = build_container(settings, clock)
    container.keys.ensure_key()
    container.tenants.ensure("demo")
    try:
        with TestClient(create_app(container), client=("127.0.0.1", 50000),
                        raise_server_exceptions=False) as tc:
            yield tc, container
    finally:
        container.close()


@pytest.fixture
def sso(settings: Settings, clock: FrozenClock, idp: str
        ) -> Iterator[tuple[TestClient, Container]]:
    yield from _app(_sso_settings(settings, idp), clock)


def to_callback(api: TestClient, login: str, amr: str = "pwd",
                start_at: str = "/console/login/oidc") -> str:
    """Start at the console, sign in at the provider; the callback URL it sends back."""
    start = api.get(start_at, follow_redirects=False)
    assert start.status_code == 303, start.text
    url = start.headers["location"]
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"] and query["nonce"]
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        for _ in range(10):
            if url.startswith("http://testserver/"):
                return url.removeprefix("http://testserver")
            r = browser.get(url)
            if r.status_code == 200 and r.text.startswith("interaction "):
                r = browser.post(url, data={"login": login, "amr": amr})
            assert r.status_code in {302, 303}, r.text
            url = str(r.url.join(r.headers["location"]))
    raise AssertionError("the provider never sent the browser back")


def events(container: Container) -> list[tuple[str, dict[str, object]]]:
    return [(e.action, e.details) for e in container.audit.list(limit=1000)]


def test_provider_mfa_signs_in_with_mapped_role(sso: tuple[TestClient, Container]) -> None:
    api, container = sso
    assert "/console/login/oidc" in api.get("/console/login").text
    done = api.get(to_callback(api, "alice", amr="pwd,otp,mfa"))
    assert done.status_code == 200 and 'url=/console/"' in done.text
    assert api.get("/console/").status_code == 200
    op = next(o for o in container.operators.list() if o.email == "alice@example.com")
    assert (op.role, op.status) == ("reviewer", "active")
    assert op.tenants == ("demo",)
    log = events(container)
    signed = [d for a, d in log if a == "operator.signed_in"]
    assert signed and signed[-1]["factor"] == "sso" and signed[-1]["mfa"] == "provider"
    assert "alice@example.com" not in json.dumps([d for _, d in log])


def test_without_provider_mfa_the_second_factor_is_local(
        sso: tuple[TestClient, Container], clock: FrozenClock) -> None:
    api, _ = sso
    done = api.get(to_callback(api, "bob"))
    assert 'url=/console/enroll/mfa"' in done.text
    # No console page before a second factor exists.
    assert api.get("/console/").url.path == "/console/login"
    page = api.get("/console/enroll/mfa")
    secret = totp_secret(page.text)
    r = api.post("/console/enroll/mfa", data={
        "code": pyotp.TOTP(secret).at(clock.timestamp()), "csrf_token": csrf(page.text)})
    assert r.status_code == 200 and "recovery-code" in r.text
    assert api.get("/console/").status_code == 200
    api.cookies.clear()
    # Next time the provider's password is not enough: TOTP is asked for.
    done = api.get(to_callback(api, "bob"))
    assert 'url=/console/mfa"' in done.text
    assert api.get("/console/").url.path == "/console/login"
    page = api.get("/console/mfa")
    clock.advance(30)
    r = api.post("/console/mfa", data={"code": pyotp.TOTP(secret).at(clock.timestamp()),
                                       "csrf_token": csrf(page.text)})
    assert r.url.path == "/console/" and r.status_code == 200


def test_groups_follow_the_provider_and_link_by_verified_email(
        sso: tuple[TestClient, Container]) -> None:
    api, container = sso
    existing = container.operators.create("carol@example.com", "analyst", ["demo"])
    api.get(to_callback(api, "carol", amr="mfa"))
    op = container.operators.get(existing.operator.id)
    assert op.role == "admin"  # the first matching rule wins (idp-admins before idp-auditors)
    changed = [d for a, d in events(container) if a == "operator.role_changed"]
    assert changed and changed[-1]["previous_role"] == "analyst"
    assert changed[-1]["role"] == "admin"


@pytest.mark.parametrize(("login", "status", "code"), [
    ("dave", 403, "oidc_no_role"), ("erin", 403, "oidc_email_unverified"),
    ("nobody", 400, "oidc_provider_refused")])
def test_refused_people(sso: tuple[TestClient, Container], login: str, status: int,
                        code: str) -> None:
    api, container = sso
    before = len(container.operators.list())
    r = api.get(to_callback(api, login, amr="mfa"))
    assert r.status_code == status and code in r.text
    assert "idproof_console" not in r.cookies
    assert len(container.operators.list()) == before
    failed = [d for a, d in events(container) if a == "operator.signin_failed"]
    assert failed[-1]["reason"] == code


def test_bad_callbacks_change_nothing(sso: tuple[TestClient, Container]) -> None:
    api, container = sso
    callback = to_callback(api, "alice", amr="mfa")
    path, _, query = callback.partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    wrong_state = api.get(f"{path}?{urlencode({**params, 'state': 'x' * 32})}")
    assert wrong_state.status_code == 400 and "oidc_state_mismatch" in wrong_state.text
    wrong_iss = api.get(f"{path}?{urlencode({**params, 'iss': 'https://evil.example'})}")
    assert wrong_iss.status_code == 400 and "oidc_wrong_issuer" in wrong_iss.text
    assert not any(o.email == "alice@example.com" for o in container.operators.list())
    # The state cookie went with the refusals: the genuine callback is now unknown as well.
    assert "oidc_state_mismatch" in api.get(callback).text


def test_replayed_code_is_refused(sso: tuple[TestClient, Container]) -> None:
    api, container = sso
    callback = to_callback(api, "alice", amr="mfa")
    state_cookie = api.cookies.get("idproof_console_oidc")
    assert state_cookie and re.fullmatch(r"[0-9a-f]+", state_cookie)  # never `--` (CRS 942440)
    assert api.get(callback).status_code == 200
    api.cookies.clear()
    api.cookies.set("idproof_console_oidc", state_cookie)
    replay = api.get(callback)
    assert replay.status_code == 400 and "oidc_code_rejected" in replay.text
    assert "idproof_console" not in replay.cookies
    reasons = [d.get("reason") for a, d in events(container) if a == "operator.signin_failed"]
    assert "oidc_code_rejected" in reasons


def test_expired_id_token_is_refused(settings: Settings, clock: FrozenClock, idp: str) -> None:
    # This client's id_tokens live 5 s; the console's clock is 2 minutes ahead of the
    # provider's by the time the code is exchanged (past the 60 s allowed skew).
    for api, container in _app(_sso_settings(settings, idp, CLIENT_ID + "-short"), clock):
        callback = to_callback(api, "alice", amr="mfa")
        clock.advance(120)
        r = api.get(callback)
        assert r.status_code == 400 and "oidc_token_expired" in r.text
        assert not any(o.email == "alice@example.com" for o in container.operators.list())


def test_disabled_operator_cannot_use_sso(sso: tuple[TestClient, Container]) -> None:
    api, container = sso
    api.get(to_callback(api, "alice", amr="mfa"))
    op = next(o for o in container.operators.list() if o.email == "alice@example.com")
    container.operators.disable(op.id)
    assert api.get("/console/").url.path == "/console/login"
    r = api.get(to_callback(api, "alice", amr="mfa"))
    assert r.status_code == 403 and "oidc_operator_disabled" in r.text


def test_not_configured_is_a_clear_404(api: TestClient) -> None:
    r = api.get("/console/login/oidc", follow_redirects=False)
    assert r.status_code == 404 and "not set up" in r.text
    assert "/console/login/oidc" not in api.get("/console/login").text


def test_step_up_at_the_provider(sso: tuple[TestClient, Container], clock: FrozenClock) -> None:
    api, container = sso
    api.get(to_callback(api, "alice", amr="mfa"))
    clock.advance(400)  # the provider's MFA is older than 5 minutes now
    page = api.get("/console/step-up", params={"next": "/console/account"})
    start_at = "/console/step-up/oidc?next=%2Fconsole%2Faccount"
    assert start_at.replace("&", "&amp;") in page.text
    query = parse_qs(urlsplit(api.get(start_at, follow_redirects=False)
                              .headers["location"]).query)
    assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
    before = api.cookies.get("idproof_console")
    for login, amr, code in (("bob", "mfa", "oidc_wrong_account"),
                             ("alice", "pwd", "oidc_mfa_required")):
        r = api.get(to_callback(api, login, amr=amr, start_at=start_at))
        assert r.status_code == 403 and code in r.text
        assert api.cookies.get("idproof_console") == before
        failed = [d for a, d in events(container) if a == "operator.mfa_failed"]
        assert failed[-1]["reason"] == code and failed[-1]["purpose"] == "step_up"
    r = api.get(to_callback(api, "alice", amr="mfa", start_at=start_at))
    assert r.status_code == 200 and 'url=/console/account"' in r.text
    assert api.cookies.get("idproof_console") not in {None, before}  # rotated
    assert api.get("/console/account").status_code == 200
    steps = [d for a, d in events(container) if a == "operator.step_up"]
    assert len(steps) == 1 and steps[0]["factor"] == "sso"

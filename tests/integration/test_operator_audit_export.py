"""`idproof audit export` holds the operator events (created, MFA enrolled, sign-in failed and
succeeded, role changed) as actor type `operator`, and no personal data or secret of theirs."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.core.clock import FrozenClock
from tests.audit_log_support import cli
from tests.console_helpers import PASSWORD, csrf, enroll_totp, sign_in

EMAIL = "Compliance.Officer@Example.com"


def test_operator_events_exported_without_pii(api: TestClient, container: Container,
                                              clock: FrozenClock) -> None:
    made = cli(container, "operators", "create", "--email", EMAIL, "--role", "analyst",
               "--tenant", "demo", "--json")
    assert made.exit_code == 0, made.output
    issued = json.loads(made.stdout)
    secret, recovery = enroll_totp(api, issued["enrollment_url"], clock)
    api.cookies.clear()  # enrolment signed it in; start again from the sign-in page
    page = api.get("/console/login")
    wrong = api.post("/console/login", data={"email": EMAIL, "password": "not-the-password-1",
                                             "csrf_token": csrf(page.text)})
    assert wrong.status_code == 401
    sign_in(api, EMAIL, secret, clock)
    cookie = api.cookies.get("idproof_console")
    assert cookie

    changed = cli(container, "operators", "set-role", issued["id"], "--role", "reviewer",
                  "--tenant", "demo")
    assert changed.exit_code == 0, changed.output
    # A change of privilege ends the session: the old cookie opens nothing now.
    assert api.get("/console/").url.path == "/console/login"

    exported = cli(container, "audit", "export")
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    ours = [e for e in lines if e["action"].startswith("operator.")]
    actions = {e["action"] for e in ours}
    for expected in ("operator.created", "operator.password_set", "operator.mfa_enrolled",
                     "operator.enrolled", "operator.signin_failed", "operator.password_verified",
                     "operator.signed_in", "operator.role_changed"):
        assert expected in actions, expected
    assert all(e["actor_type"] == "operator" for e in ours)
    role = next(e for e in ours if e["action"] == "operator.role_changed")
    assert role["target_id"] == issued["id"]
    assert role["details"]["role"] == "reviewer"
    assert role["details"]["previous_role"] == "analyst"
    assert role["details"]["sessions_revoked"] == 2  # the enrolment's and the sign-in's
    enrolled = next(e for e in ours if e["action"] == "operator.mfa_enrolled")
    assert enrolled["details"]["factor"] == "totp" and enrolled["actor_id"] == issued["id"]

    text = exported.stdout.lower()
    token = urlsplit(issued["enrollment_url"]).path.rsplit("/", 1)[1]
    secrets = [EMAIL.lower(), "compliance.officer", PASSWORD, "not-the-password-1", secret,
               token, cookie, *recovery]
    for value in secrets:
        assert value.lower() not in text, value


def test_set_role_refuses_bad_input_and_changes_nothing(container: Container) -> None:
    issued = container.operators.create("dev@example.com", "developer", ["demo"])
    for args, code in ((["--role", "superuser"], "invalid_role"),
                       (["--role", "owner", "--tenant", "demo"], "owner_has_no_tenants"),
                       (["--role", "admin", "--tenant", "nope"], "tenant_not_found"),
                       (["--role", "admin", "--region", "mars"], "invalid_region")):
        r = cli(container, "operators", "set-role", issued.operator.id, *args)
        assert r.exit_code == 2 and code in r.output, r.output
    assert cli(container, "operators", "set-role", "ghost@example.com", "--role",
               "admin").exit_code == 2
    view = container.operators.get(issued.operator.id)
    assert (view.role, view.tenants) == ("developer", ("demo",))
    assert not any(e.action == "operator.role_changed"
                   for e in container.audit.list(limit=1000))

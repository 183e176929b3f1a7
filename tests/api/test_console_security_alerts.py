"""The console's open security alerts: listed for the tenant's admins, acknowledged with a
note (kept out of the audit log), hidden from other tenants' operators and from analysts."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from idproof.audit.events import AuditEvent
from idproof.console.alert_models import SecurityAlertAck
from idproof.security.alerts import Alert
from idproof.web.app import create_app
from tests.console_helpers import csrf, enroll_totp


def _operator(app, container, clock, role: str, tenant: str | None):  # type: ignore[no-untyped-def]
    issued = container.operators.create(f"{role}-{tenant}@example.com", role,
                                        None if tenant is None else [tenant])
    tc = TestClient(app, client=("127.0.0.1", 50000), raise_server_exceptions=False)
    enroll_totp(tc, issued.enrollment_url, clock)
    return tc


def test_alerts_listed_and_acknowledged(container, clock) -> None:  # type: ignore[no-untyped-def]
    container.tenants.ensure("other")
    demo = container.tenants.find("demo").id
    other = container.tenants.find("other").id
    container.alerts.raise_alert(Alert("auth_failures_per_ip", demo, "203.0.113.5",
                                       {"threshold": 100}))
    container.alerts.raise_alert(Alert("sessions_per_client", other, None, {"threshold": 3}))
    app = create_app(container)
    admin = _operator(app, container, clock, "admin", "demo")
    r = admin.get("/console/alerts")
    assert r.status_code == 200
    assert "auth_failures_per_ip" in r.text and "203.0.113.5" in r.text
    assert "sessions_per_client" not in r.text  # another tenant's alert
    (event_id,) = re.findall(r'<tr id="(aev_[^"]+)"', r.text)
    r = admin.post(f"/console/alerts/{event_id}/ack",
                   data={"note": "known scanner, blocked upstream", "csrf_token": csrf(r.text)})
    assert r.status_code == 200 and r.url.path == "/console/alerts"
    assert "No open alert." in r.text
    with container.db.read() as s:
        ack = s.get(SecurityAlertAck, event_id)
        assert ack is not None and ack.note == "known scanner, blocked upstream"
    acks = container.audit.list(action="security.alert_acknowledged")
    assert len(acks) == 1 and acks[0].target_id == event_id
    assert "scanner" not in str(acks[0].details)  # the note stays out of the audit log
    # Twice, or another tenant's alert, or without the CSRF token: refused, nothing changes.
    page = admin.get("/console/alerts").text
    assert admin.post(f"/console/alerts/{event_id}/ack",
                      data={"csrf_token": csrf(page)}).status_code == 404
    other_id = container.audit.list(action="security.alert")[1].event_id
    assert admin.post(f"/console/alerts/{other_id}/ack",
                      data={"csrf_token": csrf(page)}).status_code == 404
    assert admin.post(f"/console/alerts/{other_id}/ack", data={}).status_code in (400, 403)
    with container.db.read() as s:
        assert s.get(SecurityAlertAck, other_id) is None


def test_analysts_may_not_see_alerts(container, clock) -> None:  # type: ignore[no-untyped-def]
    container.audit.record(AuditEvent(action="security.alert", details={"kind": "x"}))
    analyst = _operator(create_app(container), container, clock, "analyst", "demo")
    assert analyst.get("/console/alerts").status_code == 403
    owner = _operator(create_app(container), container, clock, "owner", None)
    r = owner.get("/console/alerts")
    assert r.status_code == 200 and "(platform)" in r.text  # platform alerts: owners only

"""Each detector driven to a `security.alert`: sessions per client (API), malformed uploads per
IP (API), webhook failures per endpoint, operator sign-in failures per IP (block), PII reads
above the reader's own baseline (audit stream), and the counter on /metrics."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from idproof.audit.events import AuditEvent
from idproof.bootstrap import build_container
from idproof.config import Settings
from idproof.web.app import create_app
from tests.conftest import TEST_SECRET
from tests.console_helpers import csrf
from tests.helpers import ApiClient, bearer, get_token

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
METRICS = "m" * 40
IP = "203.0.113.77"


@pytest.fixture
def setup(tmp_path, db_url, clock):  # type: ignore[no-untyped-def]
    settings = Settings(
        data_dir=tmp_path / "data", database_url=db_url, secret_key=TEST_SECRET,
        public_url="http://testserver", metrics={"token": METRICS},
        security={"detectors": {"sessions_per_client_per_minute": 3,
                                "malformed_uploads_per_ip": 3, "auth_failures_per_ip": 3,
                                "webhook_failures_per_endpoint": 2,
                                "pii_baseline_minimum": 5, "pii_baseline_factor": 2}})
    c = build_container(settings, clock)
    c.keys.ensure_key()
    c.tenants.ensure("demo")
    issued = c.clients.create("demo", "identity.verify identity.read_status")
    with TestClient(create_app(c), client=(IP, 50000)) as api:
        auth = bearer(get_token(api, ApiClient(issued.client.id, issued.secret, "demo")))
        yield c, api, auth, issued.client
    c.close()


def _alerts(c, kind: str) -> list:  # type: ignore[no-untyped-def]
    return [e for e in c.audit.list(action="security.alert", limit=1000)
            if e.details.get("kind") == kind]


def _session(api, auth) -> str:  # type: ignore[no-untyped-def]
    r = api.post("/v1/sessions", json={"workflow": "document_only", "reference": "u-1"},
                 headers=auth)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_sessions_per_client_per_minute(setup) -> None:  # type: ignore[no-untyped-def]
    c, api, auth, client = setup
    for _ in range(2):
        _session(api, auth)
    assert _alerts(c, "sessions_per_client") == []
    _session(api, auth)
    _session(api, auth)  # one alert per window, not one per session
    (alert,) = _alerts(c, "sessions_per_client")
    assert alert.details["client_id"] == client.id and alert.tenant_id == client.tenant_id


def test_malformed_uploads_per_ip_and_the_metrics_counter(setup) -> None:  # type: ignore[no-untyped-def]
    c, api, auth, _ = setup
    sid = _session(api, auth)
    for _ in range(3):
        r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                     files={"file": ("f.jpg", b"\xff\xd8\xff" + b"\0" * 100, "image/jpeg")},
                     headers=auth)
        assert r.status_code in (415, 422)
        assert r.headers["content-type"].startswith("application/problem+json")
    (alert,) = _alerts(c, "malformed_uploads_per_ip")
    assert alert.ip == IP
    m = api.get("/metrics", headers={"authorization": f"Bearer {METRICS}"}).text
    assert 'idproof_security_alerts_total{kind="malformed_uploads_per_ip"} 1.0' in m
    assert IP not in m and sid not in m  # labels carry the kind only


def test_webhook_failures_per_endpoint(setup) -> None:  # type: ignore[no-untyped-def]
    c, _, _, client = setup
    for i in range(2):
        c.audit.record(AuditEvent(action="webhook.delivery_failed", outcome="failure",
                                  tenant_id=client.tenant_id, target_type="webhook_delivery",
                                  target_id=f"whd_{i}", details={"endpoint_id": "whe_1"}))
    (alert,) = _alerts(c, "webhook_failures_per_endpoint")
    assert alert.details["endpoint_id"] == "whe_1"


def test_operator_signin_failures_block_the_ip(setup) -> None:  # type: ignore[no-untyped-def]
    c, _, _, _ = setup
    ip = "198.51.100.23"
    for _ in range(3):
        c.audit.record(AuditEvent(action="operator.signin_failed", outcome="failure",
                                  actor_type="operator", ip=ip))
    (alert,) = _alerts(c, "operator_signin_failures_per_ip")
    assert alert.ip == ip
    assert c.guard.retry_after(ip) is not None


def test_pii_reads_above_the_readers_baseline(setup, clock) -> None:  # type: ignore[no-untyped-def]
    c, _, _, client = setup

    def read(n: int, actor: str = client.id) -> None:
        for _ in range(n):
            c.audit.record(AuditEvent(action="vault.detokenized", actor_type="client",
                                      actor_id=actor, tenant_id=client.tenant_id,
                                      occurred_at=clock.now()))

    # Three reads a day for the last week: the baseline median is 3, the limit 2 x 3 + 1 = 7.
    today = clock.now()
    for days in range(1, 8):
        clock.advance(-days * 86400)
        read(3)
        clock.advance(days * 86400)
    assert clock.now() == today
    read(6)
    assert _alerts(c, "pii_reads_above_baseline") == []
    read(1)
    (alert,) = _alerts(c, "pii_reads_above_baseline")
    assert alert.details["actor_id"] == client.id and alert.details["reads"] == 7
    read(5, actor="cli_new")  # no history: the minimum (5) alone decides
    assert len(_alerts(c, "pii_reads_above_baseline")) == 2


def test_operator_signin_failures_through_the_console(setup) -> None:  # type: ignore[no-untyped-def]
    c, api, _, _ = setup
    for i in range(3):  # wrong passwords, an unknown address: three failures from one IP
        page = api.get("/console/login")
        api.post("/console/login", data={"email": f"nobody{i}@example.com",
                                         "password": "wrong password 1234",
                                         "csrf_token": csrf(page.text)})
    (alert,) = _alerts(c, "operator_signin_failures_per_ip")
    assert alert.ip == IP and c.guard.retry_after(IP) is not None
    assert "nobody" not in str(alert.details)  # no e-mail address in the alert


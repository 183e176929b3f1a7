"""Console integration pages: API clients and webhook endpoints, role-checked and audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.config import Settings, WebhookSettings
from idproof.web.app import create_app
from tests.conftest import TEST_SECRET
from tests.console_helpers import csrf, enroll_totp
from tests.webhook_receiver import Receiver, start_receiver, stop_receiver


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=db_url, secret_key=TEST_SECRET,
                    public_url="http://testserver", webhook_allow_private_networks=True,
                    webhooks=WebhookSettings(timeout_seconds=0.5, schedule=[5, 30]))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = start_receiver()
    yield rec
    stop_receiver(rec)


@pytest.fixture
def app(container: Container):  # type: ignore[no-untyped-def]
    return create_app(container)


def operator(app, container, clock, role: str, tenants=("demo",)) -> TestClient:  # type: ignore[no-untyped-def]
    issued = container.operators.create(f"{role}@example.com", role,
                                        None if role == "owner" else list(tenants))
    tc = TestClient(app, client=("127.0.0.1", 50000), raise_server_exceptions=False)
    enroll_totp(tc, issued.enrollment_url, clock)
    return tc


def secret_of(page: str) -> str:
    m = re.search(r'<code id="new-secret" class="otpauth">([^<]+)</code>', page)
    assert m, page
    return m.group(1)


def test_clients_create_rotate_disable(app, container, clock) -> None:
    dev = operator(app, container, clock, "developer")
    page = dev.get("/console/clients")
    assert page.status_code == 200 and "API clients of demo" in page.text
    r = dev.post("/console/clients?tenant=demo",
                 data={"csrf_token": csrf(page.text), "name": "backend",
                       "scopes": ["identity.verify", "identity.read_status"],
                       "allowed_ips": "10.0.0.0/8", "allowed_origins": "https://app.example"})
    assert r.status_code == 201, r.text
    secret = secret_of(r.text)
    (client,) = container.clients.list("demo")
    assert client.scopes == ("identity.verify", "identity.read_status")
    assert client.allowed_ips == ("10.0.0.0/8",)
    assert container.clients.check_secret(client.id, secret)
    assert secret not in dev.get("/console/clients").text  # shown once
    # rotate with no grace: the old secret stops at once, the new one works
    r = dev.post(f"/console/clients/{client.id}/rotate",
                 data={"csrf_token": csrf(r.text), "grace_hours": "0"})
    assert r.status_code == 200, r.text
    new = secret_of(r.text)
    assert new != secret and container.clients.check_secret(client.id, new)
    assert not container.clients.check_secret(client.id, secret)
    r = dev.post(f"/console/clients/{client.id}/disable", data={"csrf_token": csrf(r.text)})
    assert r.status_code == 200 and container.clients.get(client.id, fresh=True).disabled
    actions = [(e.action, e.actor_id) for e in container.audit.list()
               if e.action.startswith("client.")]
    assert [a for a, _ in actions] == ["client.created", "client.secret_rotated",
                                       "client.disabled"]
    assert {who for _, who in actions} == {dev_id(container, "developer")}


def dev_id(container: Container, role: str) -> str:
    (op,) = [o for o in container.operators.list() if o.email == f"{role}@example.com"]
    return str(op.id)


def test_clients_bad_input_changes_nothing(app, container, clock) -> None:
    dev = operator(app, container, clock, "developer")
    token = csrf(dev.get("/console/clients").text)
    for data, status in [({"scopes": ["root"]}, 422), ({}, 422),
                         ({"scopes": ["identity.verify"], "allowed_ips": "not-a-cidr"}, 422),
                         ({"scopes": ["identity.verify"], "allowed_origins": "ftp://x"}, 422),
                         ({"scopes": ["identity.verify"], "admin": "1"}, 422)]:
        r = dev.post("/console/clients", data={"csrf_token": token, **data})
        assert r.status_code == status, (data, r.text)
        assert "Traceback" not in r.text and 'role="alert"' in r.text
    r = dev.post("/console/clients", data={"scopes": ["identity.verify"]})  # no CSRF token
    assert r.status_code == 403
    assert container.clients.list("demo") == []
    # another tenant's client is not found (and not touched)
    container.tenants.ensure("other")
    theirs = container.clients.create("other", "identity.verify")
    r = dev.post(f"/console/clients/{theirs.client.id}/disable", data={"csrf_token": token})
    assert r.status_code == 404
    assert not container.clients.get(theirs.client.id, fresh=True).disabled
    assert dev.get("/console/clients?tenant=other").status_code == 404


def test_clients_edit_scopes_ips_origins(app, container, clock) -> None:
    issued = container.clients.create("demo", "identity.verify", allowed_ips=["10.0.0.0/8"])
    cid = issued.client.id
    dev = operator(app, container, clock, "developer")
    assert f'href="/console/clients/{cid}/edit"' in dev.get("/console/clients").text
    form = dev.get(f"/console/clients/{cid}/edit")
    assert form.status_code == 200 and "10.0.0.0/8" in form.text
    version = re.search(r'name="version" value="([^"]+)"', form.text)
    assert version
    data = {"csrf_token": csrf(form.text), "version": version.group(1),
            "scopes": ["identity.verify", "analytics.read"],
            "allowed_ips": "192.0.2.0/24\n198.51.100.7",
            "allowed_origins": "https://app.example"}
    r = dev.post(f"/console/clients/{cid}/edit", data=data)
    assert r.status_code == 200 and "API client saved" in r.text, r.text
    view = container.clients.get(cid, fresh=True)
    assert view.scopes == ("identity.verify", "analytics.read")
    assert view.allowed_ips == ("192.0.2.0/24", "198.51.100.7/32")
    assert view.allowed_origins == ("https://app.example",)
    (event,) = container.audit.list(action="client.updated")
    assert (event.actor_type, event.actor_id) == ("operator", dev_id(container, "developer"))
    assert event.details["scopes"] == ["identity.verify", "analytics.read"]
    assert event.details["scopes_before"] == ["identity.verify"]
    # the same (now stale) form again: 409, nothing overwritten
    r = dev.post(f"/console/clients/{cid}/edit",
                 data={**data, "csrf_token": csrf(r.text), "scopes": ["identity.verify"]})
    assert r.status_code == 409 and "Someone changed this API client" in r.text
    assert container.clients.get(cid, fresh=True).scopes == ("identity.verify",
                                                             "analytics.read")
    # bad input: 422 with a message, nothing changed
    fresh = dev.get(f"/console/clients/{cid}/edit")
    good = {"csrf_token": csrf(fresh.text),
            "version": re.search(r'name="version" value="([^"]+)"', fresh.text).group(1)}
    for bad in [{"scopes": ["root"]}, {"scopes": ["identity.verify"], "allowed_ips": "x"},
                {"scopes": ["identity.verify"], "allowed_origins": "ftp://x"},
                {"scopes": ["identity.verify"], "admin": "1"}, {}]:
        r = dev.post(f"/console/clients/{cid}/edit", data={**good, **bad})
        assert r.status_code == 422 and 'role="alert"' in r.text, (bad, r.text)
    assert len(container.audit.list(action="client.updated")) == 1
    assert container.clients.get(cid, fresh=True).allowed_ips == ("192.0.2.0/24",
                                                                  "198.51.100.7/32")
    # no CSRF token: 403; another tenant's client: 404; a role without integration: 403
    assert dev.post(f"/console/clients/{cid}/edit", data={k: v for k, v in data.items()
                                                          if k != "csrf_token"}
                    ).status_code == 403
    container.tenants.ensure("other")
    theirs = container.clients.create("other", "identity.verify")
    assert dev.get(f"/console/clients/{theirs.client.id}/edit").status_code == 404
    r = dev.post(f"/console/clients/{theirs.client.id}/edit", data={**good, **data})
    assert r.status_code == 404
    assert container.clients.get(theirs.client.id, fresh=True).scopes == ("identity.verify",)
    analyst = operator(app, container, clock, "analyst")
    r = analyst.get(f"/console/clients/{cid}/edit")
    assert r.status_code == 403 and "198.51.100.7" not in r.text


def test_roles_without_integration_get_403_and_no_data(app, container, clock) -> None:
    issued = container.clients.create("demo", "identity.verify")
    for role in ("reviewer", "analyst", "auditor"):
        tc = operator(app, container, clock, role)
        for path in ("/console/clients", "/console/webhooks", "/console/settings"):
            r = tc.get(path)
            assert r.status_code == 403 and issued.client.id not in r.text, (role, path)
    refused = [e for e in container.audit.list(action="operator.permission_refused")]
    assert len(refused) == 9


def test_webhooks_create_test_deliveries_retry(app, container, clock, receiver) -> None:
    dev = operator(app, container, clock, "developer")
    page = dev.get("/console/webhooks")
    assert page.status_code == 200
    r = dev.post("/console/webhooks?tenant=demo",
                 data={"csrf_token": csrf(page.text), "url": receiver.url(),
                       "event_types": ["session.decided", "webhook.test"],
                       "description": "<b>prod</b>"})
    assert r.status_code == 201, r.text
    assert "&lt;b&gt;prod&lt;/b&gt;" in r.text and "<b>prod</b>" not in r.text
    secret = secret_of(r.text)
    (ep,) = container.webhooks.list_endpoints(container.tenants.get("demo").id)
    r = dev.post(f"/console/webhooks/{ep.id}/test?tenant=demo",
                 data={"csrf_token": csrf(r.text)})
    assert r.status_code == 200, r.text
    receiver.plan.append(500)
    assert [container.webhooks.deliver(d) for d in container.webhooks.pending_due()]
    (req,) = receiver.received
    Webhook(secret).verify(req.body, req.headers)  # signed with the secret shown once
    r = dev.get(f"/console/webhooks/{ep.id}/deliveries?tenant=demo")
    assert r.status_code == 200 and "HTTP 500" in r.text and "webhook.test" in r.text
    demo = container.tenants.get("demo").id
    (d,) = container.webhooks.list_deliveries(demo, ep.id)
    assert d.status == "pending"  # a retry is scheduled: "send again" is a clear conflict
    r = dev.post(f"/console/webhooks/{ep.id}/deliveries/{d.id}/retry?tenant=demo",
                 data={"csrf_token": csrf(r.text)})
    assert r.status_code == 409 and "still being attempted" in r.text
    clock.advance(60)  # past the 5 s retry, well within the console session
    assert container.webhooks.deliver(d.id) == "delivered"
    r = dev.post(f"/console/webhooks/{ep.id}/deliveries/{d.id}/retry?tenant=demo",
                 data={"csrf_token": csrf(r.text)})
    assert r.status_code == 200 and "queued again" in r.text
    container.webhooks.deliver(d.id)
    assert len(receiver.received) == 3
    assert receiver.received[-1].headers["webhook-id"] == req.headers["webhook-id"]
    r = dev.get(f"/console/webhooks/{ep.id}/deliveries?tenant=demo&status=delivered")
    assert "HTTP 204" in r.text
    assert dev.get(f"/console/webhooks/{ep.id}/deliveries?status=bogus").status_code == 422
    # rotate: a new secret, shown once; then delete
    r = dev.post(f"/console/webhooks/{ep.id}/rotate?tenant=demo",
                 data={"csrf_token": csrf(r.text)})
    assert r.status_code == 200 and secret_of(r.text) != secret
    r = dev.post(f"/console/webhooks/{ep.id}/delete?tenant=demo",
                 data={"csrf_token": csrf(r.text)})
    assert r.status_code == 200 and container.webhooks.list_endpoints(
        container.tenants.get("demo").id) == []
    events = [e for e in container.audit.list() if e.action.startswith("webhook.")]
    assert {"webhook.endpoint_created", "webhook.secret_rotated", "webhook.delivery_retried",
            "webhook.endpoint_deleted"} <= {e.action for e in events}
    # recorded as the operator's actions, not as an API client's
    who = {("operator", dev_id(container, "developer"))}
    assert {(e.actor_type, e.actor_id) for e in events} == who


def test_webhooks_bad_input(app, container, clock) -> None:
    container.webhooks.allow_private_networks = False
    dev = operator(app, container, clock, "developer")
    token = csrf(dev.get("/console/webhooks").text)
    for data in [{"url": "https://127.0.0.1/x", "event_types": ["session.decided"]},
                 {"url": "https://8.8.8.8/x", "event_types": ["no.such"]},
                 {"url": "https://8.8.8.8/x"},
                 {"url": "https://8.8.8.8/x", "event_types": ["session.decided"], "x": "1"}]:
        r = dev.post("/console/webhooks", data={"csrf_token": token, **data})
        assert r.status_code == 422, (data, r.text)
        assert "Traceback" not in r.text
    assert container.webhooks.list_endpoints(container.tenants.get("demo").id) == []
    assert dev.get("/console/webhooks/whe_nope/deliveries").status_code == 404
    r = dev.post("/console/webhooks/whe_nope/rotate", data={"csrf_token": token})
    assert r.status_code == 404

"""The webhooks API: endpoints, secrets shown once, SSRF refusal, scopes, tenancy, bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from idproof.webhooks.models import WebhookDelivery, WebhookEvent
from tests.helpers import bearer, get_token

SCOPES = "identity.verify identity.read_status identity.delete webhooks.manage"
PUBLIC = "https://8.8.8.8/hooks/idproof"  # a literal public address: no DNS needed


@pytest.fixture
def auth(api, make_client):
    return bearer(get_token(api, make_client(scopes=SCOPES)))


def create(api, auth, url=PUBLIC, events=("session.decided",), **extra):
    return api.post("/v1/webhooks", json={"url": url, "event_types": list(events), **extra},
                    headers=auth)


def test_create_list_get_delete(api, auth, container) -> None:
    r = create(api, auth, events=["session.decided", "session.created"], description="prod")
    assert r.status_code == 201, r.text
    ep = r.json()
    assert ep["id"].startswith("whe_") and ep["secret"].startswith("whsec_")
    assert ep["event_types"] == ["session.decided", "session.created"]
    assert ep["url"] == PUBLIC and ep["secret_version"] == 1
    got = api.get(f"/v1/webhooks/{ep['id']}", headers=auth).json()
    assert "secret" not in got and got["description"] == "prod"
    listed = api.get("/v1/webhooks", headers=auth).json()["data"]
    assert [e["id"] for e in listed] == [ep["id"]] and "secret" not in listed[0]
    # the secret is sealed at rest: the database never holds it in clear
    with container.db.read() as s:
        raw = s.execute(text("SELECT secret_sealed FROM webhook_endpoints")).scalar_one()
    assert ep["secret"].encode() not in bytes(raw)
    assert ep["secret"][6:].encode() not in bytes(raw)
    assert api.delete(f"/v1/webhooks/{ep['id']}", headers=auth).status_code == 204
    r = api.get(f"/v1/webhooks/{ep['id']}", headers=auth)
    assert r.status_code == 404 and r.json()["code"] == "webhook_endpoint_not_found"
    assert api.get("/v1/webhooks", headers=auth).json()["data"] == []
    assert api.delete(f"/v1/webhooks/{ep['id']}", headers=auth).status_code == 404
    events = [e for e in container.audit.list() if e.action.startswith("webhook.")]
    assert [e.action for e in events] == ["webhook.endpoint_created", "webhook.endpoint_deleted"]
    assert {e.actor_type for e in events} == {"client"}  # an API client's, not an operator's


@pytest.mark.parametrize("url,reason", [
    ("http://8.8.8.8/hook", "scheme"),
    ("https://127.0.0.1/hook", "loopback"),
    ("https://localhost:8443/hook", "loopback"),
    ("https://2130706433/hook", "loopback"),
    ("https://0x7f.1/hook", "loopback"),
    ("https://0177.0.0.1/hook", "loopback"),
    ("https://[::1]/hook", "loopback"),
    ("https://[::ffff:127.0.0.1]/hook", "loopback"),
    ("https://169.254.169.254/latest/meta-data", "metadata"),
    ("https://[::ffff:a9fe:a9fe]/", "metadata"),
    ("https://10.1.2.3/hook", "private"),
    ("https://192.168.0.10/hook", "private"),
    ("https://100.64.1.1/hook", "cgnat"),
    ("https://224.0.0.1/hook", "multicast"),
    ("https://user:pw@8.8.8.8/hook", "credentials"),
])
def test_inward_url_refused_and_audited(api, auth, container, url, reason) -> None:
    r = create(api, auth, url=url)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "webhook_url_not_allowed" and body["reason"] == reason
    assert api.get("/v1/webhooks", headers=auth).json()["data"] == []
    (refused,) = container.audit.list(action="webhook.endpoint_refused")
    assert refused.outcome == "failure" and refused.details == {"reason": reason}


@pytest.mark.parametrize("body", [
    {"url": PUBLIC, "event_types": []},
    {"url": PUBLIC, "event_types": ["session.hacked"]},
    {"url": PUBLIC},
    {"url": PUBLIC, "event_types": ["session.created"], "secret": "whsec_mine"},
    {"url": "x" * 3000, "event_types": ["session.created"]},
])
def test_bad_input(api, auth, body) -> None:
    r = api.post("/v1/webhooks", json=body, headers=auth)
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"
    assert api.get("/v1/webhooks", headers=auth).json()["data"] == []


def test_scope_required(api, make_client) -> None:
    other = bearer(get_token(api, make_client(scopes="identity.verify identity.read_status")))
    for method, path in [("post", "/v1/webhooks"), ("get", "/v1/webhooks"),
                         ("delete", "/v1/webhooks/whe_x"),
                         ("post", "/v1/webhook-deliveries/whd_x/retry")]:
        r = api.request(method, path, headers=other, json={})
        assert r.status_code == 403 and r.json()["code"] == "insufficient_scope", path
    assert api.get("/v1/webhooks").status_code == 401


def test_other_tenant_gets_404(api, auth, make_client, container) -> None:
    ep = create(api, auth, events=["session.created"]).json()
    api.post("/v1/sessions", json={"reference": "u"}, headers=auth)
    (delivery_id,) = container.webhooks.pending_due()
    other = bearer(get_token(api, make_client(tenant="acme", scopes=SCOPES)))
    for method, path in [("get", f"/v1/webhooks/{ep['id']}"),
                         ("delete", f"/v1/webhooks/{ep['id']}"),
                         ("post", f"/v1/webhooks/{ep['id']}/rotate-secret"),
                         ("post", f"/v1/webhooks/{ep['id']}/test"),
                         ("get", f"/v1/webhooks/{ep['id']}/deliveries"),
                         ("get", f"/v1/webhook-deliveries/{delivery_id}"),
                         ("post", f"/v1/webhook-deliveries/{delivery_id}/retry")]:
        r = api.request(method, path, headers=other)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["code"] in {"webhook_endpoint_not_found", "webhook_delivery_not_found"}
    assert api.get("/v1/webhooks", headers=other).json()["data"] == []
    # and the other tenant's sessions never reach this tenant's endpoint
    other_verify = bearer(get_token(api, make_client(tenant="acme", scopes=SCOPES)))
    api.post("/v1/sessions", json={"reference": "v"}, headers=other_verify)
    assert container.webhooks.pending_due() == [delivery_id]
    assert api.get(f"/v1/webhooks/{ep['id']}", headers=auth).status_code == 200


def test_outbox_written_with_the_change(api, auth, container) -> None:
    """Only subscribed types get rows; the event row commits with the session it reports."""
    create(api, auth, events=["session.erased"])
    sid = api.post("/v1/sessions", json={"reference": "u"}, headers=auth).json()["id"]
    with container.db.read() as s:
        assert s.query(WebhookEvent).count() == 0  # nobody subscribes to session.created
    assert api.delete(f"/v1/sessions/{sid}", headers=auth).status_code == 204
    with container.db.read() as s:
        (ev,) = s.query(WebhookEvent).all()
        assert ev.type == "session.erased" and sid in ev.payload
        assert s.query(WebhookDelivery).one().status == "pending"
    # a refused change writes no event: erasing again is a 404 and adds nothing
    assert api.delete(f"/v1/sessions/{sid}", headers=auth).status_code == 404
    with container.db.read() as s:
        assert s.query(WebhookEvent).count() == 1


def test_deliveries_and_retry_bad_input(api, auth) -> None:
    ep = create(api, auth).json()
    r = api.get(f"/v1/webhooks/{ep['id']}/deliveries?status=bogus", headers=auth)
    assert r.status_code == 422 and r.json()["code"] == "invalid_status"
    assert api.get(f"/v1/webhooks/{ep['id']}/deliveries?limit=0",
                   headers=auth).status_code == 422
    r = api.post("/v1/webhook-deliveries/whd_nope/retry", headers=auth)
    assert r.status_code == 404 and r.json()["code"] == "webhook_delivery_not_found"
    t = api.post(f"/v1/webhooks/{ep['id']}/test", headers=auth).json()
    assert t["status"] == "pending" and t["event_type"] == "webhook.test"
    r = api.post(f"/v1/webhook-deliveries/{t['id']}/retry", headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "webhook_delivery_pending"


def test_openapi_documents_webhooks(api) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for p in ("/v1/webhooks", "/v1/webhooks/{endpoint_id}", "/v1/webhooks/{endpoint_id}/test",
              "/v1/webhooks/{endpoint_id}/deliveries", "/v1/webhooks/{endpoint_id}/rotate-secret",
              "/v1/webhook-deliveries/{delivery_id}/retry"):
        assert p in paths, p


def test_webhook_test_is_a_subscribable_event_type(api, auth) -> None:
    r = create(api, auth, events=["webhook.test", "session.decided"])
    assert r.status_code == 201, r.text
    assert r.json()["event_types"] == ["webhook.test", "session.decided"]
    r = create(api, auth, events=["webhook.nope"])
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"

"""Outbox delivery against a real local HTTP receiver; receivers verify with standardwebhooks."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from standardwebhooks import Webhook

from idproof.bootstrap import build_container
from idproof.config import JobsSettings, Settings, WebhookSettings
from idproof.testing import DocumentGenerator
from idproof.webhooks.models import WebhookDelivery, WebhookEvent
from idproof.webhooks.schemas import CreateEndpoint
from idproof.webhooks.service import Caller
from tests.conftest import REDIS_URL, TEST_SECRET, UNAVAILABLE, unavailable
from tests.helpers import bearer, get_token
from tests.webhook_receiver import HANG, Receiver, start_receiver, stop_receiver

SCOPES = ("identity.verify identity.read_status identity.read_pii identity.delete "
          "webhooks.manage")
ALL_EVENTS = ["session.created", "session.started", "session.submitted", "session.decided",
              "session.expired", "session.erased"]


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
def auth(api, make_client):
    return bearer(get_token(api, make_client(scopes=SCOPES)))


def register(api, auth, url, events=None):
    r = api.post("/v1/webhooks", json={"url": url, "event_types": events or ALL_EVENTS},
                 headers=auth)
    assert r.status_code == 201, r.text
    return r.json()


def deliver_due(container) -> list[str]:
    return [container.webhooks.deliver(d) for d in container.webhooks.pending_due()]


def deliveries(api, auth, endpoint_id):
    r = api.get(f"/v1/webhooks/{endpoint_id}/deliveries", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_delivered_signed_and_verified(api, auth, container, receiver) -> None:
    ep = register(api, auth, receiver.url(), ["session.created"])
    sid = api.post("/v1/sessions", json={"reference": "app-user-1"}, headers=auth).json()["id"]
    assert deliver_due(container) == ["delivered"]
    (req,) = receiver.received
    payload = Webhook(ep["secret"]).verify(req.body, req.headers)
    assert payload["type"] == "session.created"
    assert payload["data"] == {"session_id": sid, "status": "not_started",
                               "workflow": "kyc_standard", "reference": "app-user-1"}
    assert req.headers["webhook-id"].startswith("msg_") and req.path == "/hook"
    assert req.headers["content-type"] == "application/json"
    (d,) = deliveries(api, auth, ep["id"])
    assert d["status"] == "delivered" and d["attempts"] == 1 and d["last_status_code"] == 204
    assert d["event_id"] == req.headers["webhook-id"] and d["event_type"] == "session.created"
    # delivered once: the worker does not send it again
    assert deliver_due(container) == [] and len(receiver.received) == 1


def test_500_then_retried_with_the_same_id(api, auth, container, receiver, clock) -> None:
    receiver.plan.extend([500, 503])
    ep = register(api, auth, receiver.url(), ["session.created"])
    api.post("/v1/sessions", json={"reference": "u"}, headers=auth)
    assert deliver_due(container) == ["pending"]
    (d,) = deliveries(api, auth, ep["id"])
    assert d["status"] == "pending" and d["last_error"] == "http_status"
    assert d["last_status_code"] == 500 and d["next_attempt_at"] is not None
    assert deliver_due(container) == []  # not due yet: about 5 s of backoff
    assert container.webhooks.deliver(d["id"]) == "not_due"
    clock.advance(7)
    assert deliver_due(container) == ["pending"]
    clock.advance(40)
    assert deliver_due(container) == ["delivered"]
    a, b, c = receiver.received
    assert a.headers["webhook-id"] == b.headers["webhook-id"] == c.headers["webhook-id"]
    assert a.body == b.body == c.body
    for req in (a, b, c):
        Webhook(ep["secret"]).verify(req.body, req.headers)
    (d,) = deliveries(api, auth, ep["id"])
    assert d["status"] == "delivered" and d["attempts"] == 3
    assert [x["status_code"] for x in d["attempt_log"]] == [500, 503, 204]


def test_final_failure_audited_then_manual_retry(api, auth, container, receiver,
                                                 clock) -> None:
    receiver.default = 500
    ep = register(api, auth, receiver.url(), ["session.created"])
    api.post("/v1/sessions", json={"reference": "u"}, headers=auth)
    statuses = []
    for _ in range(3):  # the first attempt and two retries (schedule [5, 30])
        statuses += deliver_due(container)
        clock.advance(60)
    assert statuses == ["pending", "pending", "failed"]
    assert deliver_due(container) == []
    (d,) = deliveries(api, auth, ep["id"])
    assert d["status"] == "failed" and d["attempts"] == 3
    failed = container.audit.list(action="webhook.delivery_failed")
    assert [e.target_id for e in failed] == [d["id"]]
    assert failed[0].details["error"] == "http_status" and failed[0].details["attempts"] == 3
    receiver.default = 200
    r = api.post(f"/v1/webhook-deliveries/{d['id']}/retry", headers=auth)
    assert r.status_code == 202 and r.json()["status"] == "pending"
    r = api.post(f"/v1/webhook-deliveries/{d['id']}/retry", headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "webhook_delivery_pending"
    assert deliver_due(container) == ["delivered"]
    assert len({q.headers["webhook-id"] for q in receiver.received}) == 1
    assert len(receiver.received) == 4


def test_redirect_is_a_failure_not_followed(api, auth, container, receiver) -> None:
    receiver.plan.append((302, receiver.url("/elsewhere")))
    ep = register(api, auth, receiver.url(), ["session.created"])
    api.post("/v1/sessions", json={"reference": "u"}, headers=auth)
    assert deliver_due(container) == ["pending"]
    assert [q.path for q in receiver.received] == ["/hook"]  # /elsewhere never called
    (d,) = deliveries(api, auth, ep["id"])
    assert d["last_error"] == "redirect" and d["last_status_code"] == 302


def test_hanging_receiver_times_out(api, auth, container, receiver) -> None:
    receiver.plan.append(HANG)
    ep = register(api, auth, receiver.url(), ["session.created"])
    api.post("/v1/sessions", json={"reference": "u"}, headers=auth)
    assert deliver_due(container) == ["pending"]
    (d,) = deliveries(api, auth, ep["id"])
    assert d["last_error"] == "timeout" and d["last_status_code"] is None


def test_unreachable_receiver(api, auth, container, receiver) -> None:
    url = receiver.url()
    stop_receiver(receiver)  # nothing listens on that port any more
    ep = register(api, auth, url, ["session.created"])
    api.post("/v1/sessions", json={"reference": "u"}, headers=auth)
    assert deliver_due(container) == ["pending"]
    assert deliveries(api, auth, ep["id"])[0]["last_error"] == "connection_failed"


def test_rotation_sends_both_signatures(api, auth, container, receiver, clock,
                                        make_client) -> None:
    ep = register(api, auth, receiver.url(), ["session.created"])
    r = api.post(f"/v1/webhooks/{ep['id']}/rotate-secret", headers=auth)
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != ep["secret"] and r.json()["secret_version"] == 2
    assert r.json()["previous_secret_expires_at"] is not None
    r = api.post(f"/v1/webhooks/{ep['id']}/test", headers=auth)
    assert r.status_code == 202 and r.json()["event_type"] == "webhook.test"
    assert deliver_due(container) == ["delivered"]
    req = receiver.received[-1]
    assert len(req.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(req.body, req.headers)["type"] == "webhook.test"
    Webhook(ep["secret"]).verify(req.body, req.headers)
    clock.advance(25 * 3600)  # past the 24 h grace period: the old secret stops signing
    auth = bearer(get_token(api, make_client(scopes=SCOPES)))  # the old token expired
    assert api.post(f"/v1/webhooks/{ep['id']}/test", headers=auth).status_code == 202
    assert deliver_due(container) == ["delivered"]
    req = receiver.received[-1]
    assert len(req.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(req.body, req.headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(ep["secret"]).verify(req.body, req.headers)
    actions = [e.action for e in container.audit.list(action="webhook.secret_rotated")]
    assert actions == ["webhook.secret_rotated"]


def test_refused_again_at_delivery_time(api, auth, container, receiver) -> None:
    """DNS may change after registration: the host is resolved and checked at each send."""
    answers = {"hooks.example.test": "8.8.8.8"}
    svc = container.webhooks
    svc._resolver = lambda host, port: [answers[host]]  # a DNS we control
    svc.allow_private_networks = False
    ep = register(api, auth, "https://hooks.example.test/hook", ["session.created"])
    answers["hooks.example.test"] = "127.0.0.1"  # rebinding to an inward address
    api.post("/v1/sessions", json={"reference": "u"}, headers=auth)
    assert deliver_due(container) == ["pending"]
    (d,) = deliveries(api, auth, ep["id"])
    assert d["last_error"] == "url_not_allowed" and d["attempt_log"][0]["duration_ms"] == 0
    assert receiver.received == []


def test_restart_still_delivers_pending(api, auth, container, receiver, settings,
                                        clock) -> None:
    """Committed events survive a restart and a lost queue: the sweep queues them again,
    and a real Huey consumer delivers them."""
    ep = register(api, auth, receiver.url(), ["session.created"])
    sid = api.post("/v1/sessions", json={"reference": "u"}, headers=auth).json()["id"]
    container.jobs.flush()  # the queued task is lost with the old process
    container.close()
    fresh = build_container(settings, clock)
    try:
        fresh.jobs.start_consumer(workers=1)
        assert fresh.webhooks.sweep() == 1
        (req,) = receiver.wait_for(1)
        assert Webhook(ep["secret"]).verify(req.body, req.headers)["data"]["session_id"] == sid
        for _ in range(200):  # the consumer records the attempt just after the request
            with fresh.db.read() as s:
                status = s.query(WebhookDelivery).one().status
            if status == "delivered":
                break
            time.sleep(0.05)
        assert status == "delivered"
    finally:
        fresh.jobs.stop_consumer()
        fresh.close()


def test_cancelled_when_endpoint_deleted(api, auth, container, receiver) -> None:
    receiver.default = 500
    ep = register(api, auth, receiver.url(), ["session.created"])
    api.post("/v1/sessions", json={"reference": "u"}, headers=auth)
    assert deliver_due(container) == ["pending"]
    assert api.delete(f"/v1/webhooks/{ep['id']}", headers=auth).status_code == 204
    with container.db.read() as s:
        assert s.query(WebhookDelivery).one().status == "cancelled"
    assert container.webhooks.pending_due() == []
    assert container.webhooks.sweep() == 0


def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=92)
    return buf.getvalue()


@pytest.mark.slow
@pytest.mark.hold_tasks("process_capture")
def test_whole_session_events_carry_no_personal_data(api, auth, container, receiver,
                                                      clock, task_queue) -> None:
    ep = register(api, auth, receiver.url())
    queued = task_queue.of("process_capture")
    gen = DocumentGenerator(seed=11, today=clock.now().date())
    passport = gen.passport()
    sid = api.post("/v1/sessions", json={"reference": "app-7", "workflow": "document_only"},
                   headers=auth).json()["id"]
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("p.jpg", jpeg(passport.front), "image/jpeg")}, headers=auth)
    assert r.status_code == 202, r.text
    for s_id, cap in queued:
        container.captures.process(s_id, cap)
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 200, r.text
    decided_status = r.json()["status"]
    assert api.delete(f"/v1/sessions/{sid}", headers=auth).status_code == 204
    deliver_due(container)
    bodies = [Webhook(ep["secret"]).verify(q.body, q.headers) for q in receiver.received]
    assert [b["type"] for b in bodies] == ["session.created", "session.started",
                                           "session.submitted", "session.decided",
                                           "session.erased"]
    decided = bodies[3]["data"]
    assert decided["session_id"] == sid and decided["status"] == decided_status
    assert decided["decision"]["decided"] is True
    assert isinstance(decided["decision"]["is_verified"], bool)
    assert isinstance(decided["decision"]["reasons"], list)
    raw = b" ".join(q.body for q in receiver.received).decode().lower()
    ident = passport.identity
    for value in (ident.surname, ident.given_names, ident.document_number,
                  ident.birth_date.isoformat(), ident.birth_date.strftime("%y%m%d")):
        assert str(value).lower() not in raw, value
    for forbidden in ("surname", "given_names", "birth", "document_number", "image"):
        assert forbidden not in raw
    assert all(json.loads(q.body)["data"]["reference"] == "app-7" for q in receiver.received)


def test_expired_event_from_the_sweep(api, auth, container, receiver, clock) -> None:
    register(api, auth, receiver.url(), ["session.expired"])
    sid = api.post("/v1/sessions", json={"reference": "u", "expires_in": 300},
                   headers=auth).json()["id"]
    clock.advance(301)
    container.captures.sweep()
    assert deliver_due(container) == ["delivered"]
    body = json.loads(receiver.received[0].body)
    assert body["type"] == "session.expired" and body["data"]["session_id"] == sid
    assert body["data"]["status"] == "expired"


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def live_container(request, tmp_path: Path, db_url: str) -> Iterator:
    """Real time and a real Huey consumer, on the SQLite queue or on Redis."""
    redis_url = None
    if request.param == "redis":
        if not REDIS_URL:
            unavailable(UNAVAILABLE["redis"]())
        redis_url = REDIS_URL
    settings = Settings(data_dir=tmp_path / "live", database_url=db_url,
                        secret_key=TEST_SECRET, public_url="http://testserver",
                        webhook_allow_private_networks=True, redis_url=redis_url,
                        jobs=JobsSettings(queue_name=f"idprooftest{uuid.uuid4().hex[:12]}"),
                        webhooks=WebhookSettings(timeout_seconds=2, schedule=[0.5]))
    c = build_container(settings)
    c.keys.ensure_key()
    c.tenants.ensure("demo")
    c.jobs.start_consumer(workers=2)
    yield c
    c.jobs.stop_consumer()
    if redis_url:
        for queue in c.jobs.queues:
            queue.storage.flush_all()
    c.close()


def test_retry_scheduled_through_the_consumer(live_container, receiver) -> None:
    """A failed attempt schedules the next one in the queue; the consumer runs it."""
    c = live_container
    receiver.plan.append(500)
    tenant = c.tenants.find("demo")
    ep = c.webhooks.create_endpoint(Caller(tenant.id), CreateEndpoint(
        url=receiver.url(), event_types=["session.created"]))
    d = c.webhooks.send_test(Caller(tenant.id), ep.id)  # queued after its commit
    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    for _ in range(200):
        view = c.webhooks.get_delivery(tenant.id, d.id)
        if view.status != "pending":
            break
        time.sleep(0.05)
    assert view.status == "delivered" and view.attempts == 2
    assert [a.status_code for a in view.attempt_log] == [500, 204]


def test_settled_events_purged_after_retention(api, auth, container, receiver,
                                               clock) -> None:
    register(api, auth, receiver.url(), ["session.created"])
    api.post("/v1/sessions", json={"reference": "a"}, headers=auth)
    assert deliver_due(container) == ["delivered"]
    receiver.default = 500
    svc = container.webhooks
    svc._schedule = (40 * 86_400,)  # this one stays pending past the retention period
    api.post("/v1/sessions", json={"reference": "b"}, headers=auth)
    assert deliver_due(container) == ["pending"]
    clock.advance(31 * 86_400)
    assert svc.sweep() == 0  # nothing due; the delivered event is past retention
    with container.db.read() as s:
        (d,) = s.query(WebhookDelivery).all()
        assert d.status == "pending"  # the pending one is kept, whatever its age
        assert s.query(WebhookEvent).count() == 1

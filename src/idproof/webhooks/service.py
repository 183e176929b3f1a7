"""Webhook use cases: endpoints and secrets, the transactional outbox, delivery and retries.

`emit` writes the event and one delivery per subscribed endpoint in the caller's transaction;
the deliveries are queued after that transaction commits, and the periodic `sweep` queues any
due delivery again, so an event committed is never lost (at-least-once, stable webhook-id).
"""

from __future__ import annotations

import json
import random
import ssl
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, NotFound, ValidationFailed
from idproof.core.ids import new_id
from idproof.core.tasks import TaskQueue
from idproof.db.engine import Database
from idproof.db.tenancy import get_owned, scoped
from idproof.webhooks import delivery, signing
from idproof.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from idproof.webhooks.schedule import DEFAULT_SCHEDULE
from idproof.webhooks.schemas import (
    EVENT_TYPES,
    TEST_EVENT,
    AttemptView,
    CreatedEndpoint,
    CreateEndpoint,
    DeliveryView,
    EndpointView,
    RotatedSecret,
)
from idproof.webhooks.service_base import (
    DELIVER_WEBHOOK,
    MAX_ENDPOINTS_PER_TENANT,
    Caller,
    _iso,
)
from idproof.webhooks.ssrf import Resolver, UrlNotAllowed, resolve, system_resolver
from idproof.webhooks.worker import DeliveryWorker

# Re-exported: callers import these from the service module.
__all__ = ["DELIVER_WEBHOOK", "MAX_ENDPOINTS_PER_TENANT", "Caller", "WebhookService"]


class WebhookService(DeliveryWorker):
    def __init__(self, db: Database, audit: AuditService, seal_key: bytes, *,
                 tasks: TaskQueue, allow_private_networks: bool = False,
                 timeout_seconds: float = 10.0,
                 deadline_seconds: float = delivery.DEFAULT_DEADLINE_SECONDS,
                 schedule: Sequence[float] = DEFAULT_SCHEDULE,
                 secret_grace: timedelta = timedelta(hours=24), sweep_batch: int = 500,
                 clock: Clock | None = None, resolver: Resolver = system_resolver,
                 wall: Callable[[], float] = time.time,
                 retention: timedelta = timedelta(days=30),
                 tls_context: ssl.SSLContext | None = None) -> None:
        self._db = db
        self._audit = audit
        self._aead = AESGCM(seal_key)
        self.allow_private_networks = allow_private_networks
        self._timeout = timeout_seconds
        self._deadline = deadline_seconds
        self._schedule = tuple(schedule)
        self._grace = secret_grace
        self._sweep_batch = sweep_batch
        self._retention = retention
        self._clock = clock or SystemClock()
        self._resolver = resolver
        # webhook-timestamp is the real time of sending (receivers check it against their
        # clock to refuse replays); the injected clock only decides what is due.
        self._wall = wall
        self._rng = random.SystemRandom()
        self._tls = tls_context  # None: the default CAs (tests pass their own)
        self._tasks = tasks


    # -- endpoints -------------------------------------------------------------------------
    def check_url(self, url: str) -> None:
        """The SSRF guard as a validation: raises a 422 `webhook_url_not_allowed`."""
        try:
            resolve(url, allow_private=self.allow_private_networks, resolver=self._resolver)
        except UrlNotAllowed as exc:
            raise ValidationFailed(str(exc), code="webhook_url_not_allowed",
                                   extra={"reason": exc.reason}) from None

    @staticmethod
    def _view(ep: WebhookEndpoint) -> EndpointView:
        return EndpointView(id=ep.id, url=ep.url, event_types=list(ep.event_types),
                            description=ep.description, created_at=ep.created_at,
                            secret_version=ep.secret_version,
                            previous_secret_expires_at=ep.previous_secret_expires_at)

    def create_endpoint(self, caller: Caller, body: CreateEndpoint) -> CreatedEndpoint:
        try:
            self.check_url(body.url)
        except ValidationFailed as exc:
            # An inward URL is a probe as often as a mistake: on the record either way.
            self._audit.record(AuditEvent(
                action="webhook.endpoint_refused", outcome="failure", actor_type=caller.actor_type,
                actor_id=caller.client_id, tenant_id=caller.tenant_id, ip=caller.ip,
                request_id=caller.request_id, details={"reason": str(exc.extra["reason"])}))
            raise
        secret = signing.generate_secret()
        now = self._clock.now()
        ep = WebhookEndpoint(id=new_id("whe"), tenant_id=caller.tenant_id, url=body.url,
                             event_types=list(dict.fromkeys(body.event_types)),
                             description=body.description, secret_version=1,
                             created_by=caller.client_id, created_at=now)
        ep.secret_sealed = self._seal(ep.id, 1, secret)
        with self._db.session() as s:
            count = len(list(s.scalars(scoped(WebhookEndpoint, caller.tenant_id)
                                       .where(WebhookEndpoint.deleted_at.is_(None)))))
            if count >= MAX_ENDPOINTS_PER_TENANT:
                raise Conflict(f"at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints",
                               code="too_many_webhook_endpoints")
            s.add(ep)
            self._audit.record_in(s, AuditEvent(
                action="webhook.endpoint_created", actor_type=caller.actor_type,
                actor_id=caller.client_id, tenant_id=caller.tenant_id,
                target_type="webhook_endpoint", target_id=ep.id, ip=caller.ip,
                request_id=caller.request_id, details={"event_types": list(ep.event_types)}))
        return CreatedEndpoint(**self._view(ep).model_dump(), secret=secret)


    def list_endpoints(self, tenant_id: str) -> list[EndpointView]:
        with self._db.read() as s:
            rows = s.scalars(scoped(WebhookEndpoint, tenant_id)
                             .where(WebhookEndpoint.deleted_at.is_(None))
                             .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id))
            return [self._view(r) for r in rows]

    def get_endpoint(self, tenant_id: str, endpoint_id: str) -> EndpointView:
        with self._db.read() as s:
            return self._view(self._owned(s, tenant_id, endpoint_id))

    def delete_endpoint(self, caller: Caller, endpoint_id: str) -> None:
        now = self._clock.now()
        with self._db.session() as s:
            ep = self._owned(s, caller.tenant_id, endpoint_id)
            ep.deleted_at = now
            # Pending deliveries stop here: the owner said this receiver is gone.
            s.execute(update(WebhookDelivery)
                      .where(WebhookDelivery.endpoint_id == ep.id,
                             WebhookDelivery.status == "pending")
                      .values(status="cancelled", next_attempt_at=None, updated_at=now))
            self._audit.record_in(s, AuditEvent(
                action="webhook.endpoint_deleted", actor_type=caller.actor_type,
                actor_id=caller.client_id, tenant_id=caller.tenant_id,
                target_type="webhook_endpoint", target_id=ep.id, ip=caller.ip,
                request_id=caller.request_id))

    def rotate_secret(self, caller: Caller, endpoint_id: str) -> RotatedSecret:
        now = self._clock.now()
        secret = signing.generate_secret()
        with self._db.session() as s:
            ep = self._owned(s, caller.tenant_id, endpoint_id)
            # The previous secret is re-sealed under its own version; a rotation during the
            # grace period drops the oldest one (only two sign at a time).
            ep.previous_secret_sealed = ep.secret_sealed
            ep.previous_secret_expires_at = now + self._grace if self._grace else None
            ep.secret_version += 1
            ep.secret_sealed = self._seal(ep.id, ep.secret_version, secret)
            self._audit.record_in(s, AuditEvent(
                action="webhook.secret_rotated", actor_type=caller.actor_type,
                actor_id=caller.client_id, tenant_id=caller.tenant_id,
                target_type="webhook_endpoint", target_id=ep.id, ip=caller.ip,
                request_id=caller.request_id,
                details={"secret_version": ep.secret_version,
                         "grace_seconds": int(self._grace.total_seconds())}))
            return RotatedSecret(id=ep.id, secret=secret, secret_version=ep.secret_version,
                                 previous_secret_expires_at=ep.previous_secret_expires_at)

    # -- the outbox ------------------------------------------------------------------------
    def emit(self, s: Session, tenant_id: str, event_type: str,
             data: dict[str, Any]) -> str | None:
        """Write the event and its deliveries in the caller's transaction `s`.

        Returns the event id, or None when no endpoint of the tenant subscribes to it.
        """
        if event_type not in EVENT_TYPES and event_type != TEST_EVENT:
            raise ValueError(f"unknown webhook event type {event_type!r}")
        endpoints = [ep for ep in s.scalars(scoped(WebhookEndpoint, tenant_id)
                                            .where(WebhookEndpoint.deleted_at.is_(None)))
                     if event_type in (ep.event_types or [])]
        if not endpoints:
            return None
        return self._write_event(s, tenant_id, event_type, data, endpoints)

    def _write_event(self, s: Session, tenant_id: str, event_type: str,
                     data: dict[str, Any], endpoints: list[WebhookEndpoint]) -> str:
        now = self._clock.now()
        event_id = new_id("msg")
        body = {"type": event_type, "timestamp": _iso(now), "data": data}
        s.add(WebhookEvent(id=event_id, tenant_id=tenant_id, type=event_type,
                           payload=json.dumps(body, separators=(",", ":")), created_at=now))
        s.flush()
        ids = []
        for ep in endpoints:
            d = WebhookDelivery(id=new_id("whd"), tenant_id=tenant_id, event_id=event_id,
                                endpoint_id=ep.id, status="pending", attempts=0,
                                max_attempts=len(self._schedule) + 1, next_attempt_at=now,
                                created_at=now, updated_at=now)
            s.add(d)
            ids.append(d.id)
        self._after_commit(s, [(i, 0.0) for i in ids])
        return event_id


    # -- management of deliveries ----------------------------------------------------------
    def send_test(self, caller: Caller, endpoint_id: str) -> DeliveryView:
        with self._db.session() as s:
            ep = self._owned(s, caller.tenant_id, endpoint_id)
            event_id = self._write_event(s, caller.tenant_id, TEST_EVENT,
                                         {"endpoint_id": ep.id}, [ep])
            d = s.scalar(select(WebhookDelivery).where(WebhookDelivery.event_id == event_id))
            assert d is not None
            return self._delivery_view(s, d, TEST_EVENT)

    def _delivery_view(self, s: Session, d: WebhookDelivery, event_type: str) -> DeliveryView:
        attempts = s.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == d.id)
                             .order_by(WebhookAttempt.id))
        return DeliveryView(
            id=d.id, endpoint_id=d.endpoint_id, event_id=d.event_id, event_type=event_type,
            status=d.status, attempts=d.attempts,
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
            last_status_code=d.last_status_code, last_error=d.last_error,
            created_at=d.created_at, delivered_at=d.delivered_at,
            attempt_log=[AttemptView(attempted_at=a.attempted_at, status_code=a.status_code,
                                     error=a.error, duration_ms=a.duration_ms)
                         for a in attempts])

    def list_deliveries(self, tenant_id: str, endpoint_id: str, *, status: str | None = None,
                        limit: int = 50) -> list[DeliveryView]:
        if status is not None and status not in {"pending", "delivered", "failed",
                                                 "cancelled"}:
            raise ValidationFailed("unknown status", code="invalid_status")
        with self._db.read() as s:
            self._owned(s, tenant_id, endpoint_id)
            stmt = (select(WebhookDelivery, WebhookEvent.type)
                    .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                    .where(WebhookDelivery.tenant_id == tenant_id,
                           WebhookDelivery.endpoint_id == endpoint_id))
            if status is not None:
                stmt = stmt.where(WebhookDelivery.status == status)
            stmt = stmt.order_by(WebhookDelivery.created_at.desc(),
                                 WebhookDelivery.id.desc()).limit(limit)
            return [self._delivery_view(s, d, t) for d, t in s.execute(stmt).all()]

    def get_delivery(self, tenant_id: str, delivery_id: str) -> DeliveryView:
        with self._db.read() as s:
            d = get_owned(s, WebhookDelivery, delivery_id, tenant_id,
                          code="webhook_delivery_not_found")
            ev = s.get(WebhookEvent, d.event_id)
            return self._delivery_view(s, d, ev.type if ev else "")

    def retry(self, caller: Caller, delivery_id: str) -> DeliveryView:
        """Send a failed (or delivered) delivery once more, at once, with the same webhook-id."""
        now = self._clock.now()
        with self._db.session() as s:
            d = get_owned(s, WebhookDelivery, delivery_id, caller.tenant_id,
                          code="webhook_delivery_not_found")
            ep = s.get(WebhookEndpoint, d.endpoint_id)
            if ep is None or ep.deleted_at is not None:
                raise NotFound("not found", code="webhook_delivery_not_found")
            if d.status == "pending":
                raise Conflict("the delivery is still being attempted",
                               code="webhook_delivery_pending")
            d.status = "pending"
            d.max_attempts = d.attempts + 1  # one manual attempt, no new schedule
            d.next_attempt_at = now
            d.updated_at = now
            self._audit.record_in(s, AuditEvent(
                action="webhook.delivery_retried", actor_type=caller.actor_type,
                actor_id=caller.client_id, tenant_id=caller.tenant_id,
                target_type="webhook_delivery", target_id=d.id, ip=caller.ip,
                request_id=caller.request_id))
            self._after_commit(s, [(d.id, 0.0)])
            ev = s.get(WebhookEvent, d.event_id)
            return self._delivery_view(s, d, ev.type if ev else "")


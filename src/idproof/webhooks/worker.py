"""The delivery worker: one attempt per task, retries on schedule, the sweep and the purge."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.webhooks import delivery, signing
from idproof.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from idproof.webhooks.schedule import retry_delay
from idproof.webhooks.service_base import _LEASE_MARGIN, WebhookBase, log
from idproof.webhooks.ssrf import UrlNotAllowed, resolve


class DeliveryWorker(WebhookBase):
    """Delivers, records attempts, re-queues what is due and drops what is settled."""

    def _lock(self, s: Session, delivery_id: str) -> WebhookDelivery | None:
        stmt = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
        if self._db.dialect == "postgresql":
            stmt = stmt.with_for_update()
        return s.scalar(stmt)

    def deliver(self, delivery_id: str) -> str:
        """Make one attempt if the delivery is due; returns its status afterwards
        (`not_due` when it was not due, or claimed by another worker)."""
        now = self._clock.now()
        with self._db.session() as s:
            d = self._lock(s, delivery_id)
            if d is None:
                return "missing"
            if d.status != "pending":
                return d.status
            if d.next_attempt_at is not None and d.next_attempt_at > now:
                return "not_due"
            ep = s.get(WebhookEndpoint, d.endpoint_id)
            ev = s.get(WebhookEvent, d.event_id)
            if ep is None or ev is None or ep.deleted_at is not None:
                d.status, d.next_attempt_at, d.updated_at = "cancelled", None, now
                return d.status
            # Claim: until the lease ends no other worker (or sweep) takes this delivery.
            d.next_attempt_at = now + timedelta(seconds=self._deadline) + _LEASE_MARGIN
            d.updated_at = now
            try:
                secrets = self._signing_secrets(ep, now)
            except InvalidTag:
                log.error("webhook_secret_unreadable", endpoint_id=ep.id)
                return "pending"
            url, body, msg_id = ep.url, ev.payload.encode(), ev.id
            tenant_id, event_type, endpoint_id = d.tenant_id, ev.type, ep.id
        result = self._attempt(url, secrets, msg_id, body)
        return self._record(delivery_id, tenant_id, endpoint_id, event_type, result)

    def _attempt(self, url: str, secrets: list[str], msg_id: str,
                 body: bytes) -> delivery.SendResult:
        # Resolved and checked at send time too: DNS may now answer an inward address.
        try:
            target = resolve(url, allow_private=self.allow_private_networks,
                             resolver=self._resolver)
        except UrlNotAllowed as exc:
            log.warning("webhook_url_refused", reason=exc.reason)
            return delivery.SendResult(False, None, "url_not_allowed", 0)
        headers = signing.headers(secrets, msg_id, int(self._wall()), body)
        return delivery.send(target, headers, body, timeout=self._timeout, tls=self._tls,
                             deadline=self._deadline)

    def _record(self, delivery_id: str, tenant_id: str, endpoint_id: str, event_type: str,
                result: delivery.SendResult) -> str:
        now = self._clock.now()
        with self._db.session() as s:
            d = self._lock(s, delivery_id)
            if d is None or d.status != "pending":  # cancelled meanwhile
                return d.status if d is not None else "missing"
            d.attempts += 1
            d.last_status_code = result.status_code
            d.last_error = result.error
            d.updated_at = now
            s.add(WebhookAttempt(delivery_id=d.id, attempted_at=now,
                                 status_code=result.status_code, error=result.error,
                                 duration_ms=result.duration_ms))
            if result.ok:
                d.status, d.delivered_at, d.next_attempt_at = "delivered", now, None
                log.info("webhook_delivered", delivery_id=d.id, attempts=d.attempts)
                return d.status
            delay = (retry_delay(d.attempts, self._schedule, self._rng)
                     if d.attempts < d.max_attempts else None)
            if delay is not None:
                d.next_attempt_at = now + timedelta(seconds=delay)
                self._after_commit(s, [(d.id, delay)])
                log.info("webhook_attempt_failed", delivery_id=d.id, attempts=d.attempts,
                         error=result.error, status_code=result.status_code)
                return d.status
            d.status, d.next_attempt_at = "failed", None
            self._audit.record_in(s, AuditEvent(
                action="webhook.delivery_failed", outcome="failure", tenant_id=tenant_id,
                target_type="webhook_delivery", target_id=d.id,
                details={"endpoint_id": endpoint_id, "event_type": event_type,
                         "attempts": d.attempts, "error": result.error,
                         "status_code": result.status_code}))
            log.warning("webhook_delivery_failed", delivery_id=d.id, attempts=d.attempts,
                        error=result.error)
            return d.status

    def sweep(self) -> int:
        """Queue every pending delivery that is due (after a restart, a lost task, a killed
        worker whose lease ran out), and drop settled events past retention.
        Returns how many were queued."""
        now = self._clock.now()
        self.purge(now - self._retention)
        with self._db.read() as s:
            ids = list(s.scalars(select(WebhookDelivery.id).where(
                WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at).limit(self._sweep_batch)))
        for delivery_id in ids:
            try:
                self._enqueue(delivery_id, 0.0)
            except Exception as exc:
                log.warning("webhook_enqueue_failed", error_type=type(exc).__name__)
                break
        return len(ids)

    def purge(self, before: datetime) -> int:
        """Delete events older than `before` none of whose deliveries is still pending (their
        deliveries and attempts go with them). Returns how many events were deleted."""
        pending = (select(WebhookDelivery.id)
                   .where(WebhookDelivery.event_id == WebhookEvent.id,
                          WebhookDelivery.status == "pending").exists())
        with self._db.session() as s:
            ids = list(s.scalars(select(WebhookEvent.id)
                                 .where(WebhookEvent.created_at < before, ~pending)
                                 .limit(self._sweep_batch)))
            if ids:
                # Children first: no reliance on the database enforcing ON DELETE CASCADE.
                deliveries = select(WebhookDelivery.id).where(
                    WebhookDelivery.event_id.in_(ids))
                s.execute(delete(WebhookAttempt).where(
                    WebhookAttempt.delivery_id.in_(deliveries)))
                s.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(ids)))
                s.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(ids)))
        return len(ids)

    def pending_due(self) -> list[str]:
        """Ids of pending deliveries due now (tests and the benchmark drive delivery)."""
        now = self._clock.now()
        with self._db.read() as s:
            return list(s.scalars(select(WebhookDelivery.id).where(
                WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.created_at)))


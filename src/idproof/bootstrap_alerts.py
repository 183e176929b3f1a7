"""The composition root's alerting part: alerts (audit, webhook, e-mail) and the detectors."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.config import Settings
from idproof.core.clock import Clock
from idproof.db.engine import Database
from idproof.security.alerts import Alert, AlertService, Smtp
from idproof.security.brute_force import BruteForceGuard
from idproof.security.detectors import WindowCounter
from idproof.security.route_limits import Refusal
from idproof.security.threat_detectors import PII_ACTIONS, DetectorConfig, Detectors
from idproof.webhooks.service import WebhookService


def wire_alerts(settings: Settings, db: Database, audit: AuditService,
                 webhooks: WebhookService, guard: BruteForceGuard,
                 clock: Clock) -> tuple[AlertService, Detectors]:
    """Alerts (audit + webhook in one transaction, e-mail, counter) and the detector of
    failed client authentications per IP, which blocks the address and alerts."""
    from idproof.auth.models import Tenant

    cfg = settings.security

    def record(alert: Alert) -> str | None:
        details = {"kind": alert.kind, **alert.details}
        with db.session() as s:
            audit.record_in(s, AuditEvent(action="security.alert", outcome="success",
                                          tenant_id=alert.tenant_id, ip=alert.ip,
                                          details=details))
            if alert.tenant_id is None or not cfg.alerts.webhook:
                return None
            return webhooks.emit(s, alert.tenant_id, "security.alert",
                                 {"kind": alert.kind, "ip": alert.ip, **alert.details})

    def recipients(tenant_id: str | None) -> tuple[str | None, list[str]]:
        name = None
        if tenant_id is not None:
            with db.read() as s:
                row = s.get(Tenant, tenant_id)
                name = row.name if row is not None else None
        return name, list(cfg.alerts.email_to.get(name or "platform", []))

    smtp = settings.smtp
    alerts = AlertService(record, recipients=recipients, smtp=None if smtp.host is None else Smtp(
        smtp.host, smtp.port, smtp.sender, smtp.username,
        smtp.password.get_secret_value() if smtp.password else None, smtp.starttls))
    counter = WindowCounter(guard.storage)
    return alerts, _wire_detectors(settings, db, audit, alerts, guard, counter, clock)


def _wire_detectors(settings: Settings, db: Database, audit: AuditService,
                    alerts: AlertService, guard: BruteForceGuard, counter: WindowCounter,
                    clock: Clock) -> Detectors:
    """The detectors over the audit stream (sessions per client, webhook failures per
    endpoint, operator sign-in failures per IP, PII reads above the reader's baseline)."""
    from sqlalchemy import select

    from idproof.audit.models import AuditEventRow

    det = settings.security.detectors

    def history(actor_type: str, actor_id: str, days: int) -> list[int]:
        today = clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        since = today - timedelta(days=days)
        with db.read() as s:
            times = s.scalars(select(AuditEventRow.occurred_at).where(
                AuditEventRow.actor_type == actor_type, AuditEventRow.actor_id == actor_id,
                AuditEventRow.action.in_(PII_ACTIONS), AuditEventRow.occurred_at >= since,
                AuditEventRow.occurred_at < today))
            per_day = Counter(t.date() for t in times)
        return [per_day.get((since + timedelta(days=i)).date(), 0) for i in range(days)]

    detectors = Detectors(counter, DetectorConfig(
        det.auth_failures_per_ip, det.auth_failures_window_seconds,
        det.webhook_failures_per_endpoint, det.malformed_uploads_per_ip,
        det.sessions_per_client_per_minute, det.pii_baseline_days, det.pii_baseline_factor,
        det.pii_baseline_minimum, settings.security.brute_force.block_seconds),
        alerts.raise_alert, guard.block, history,
        lambda: clock.now().date())
    return detectors


def audit_rate_limited(audit: AuditService, r: Refusal) -> None:
    """The first refusal of a window per limit and caller: one event, not one per request."""
    audit.record(AuditEvent(action="security.rate_limited", outcome="failure",
                            actor_type="client" if r.client_id else "system",
                            actor_id=r.client_id, tenant_id=r.tenant_id, ip=r.ip,
                            request_id=r.request_id, details={"policy": r.policy}))

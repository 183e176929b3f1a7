"""Security alerts: an audit event, a tenant webhook, an e-mail to its admins, a counter."""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter

log = structlog.get_logger("idproof.security")


@dataclass(frozen=True, slots=True)
class Alert:
    """What a detector found. `details` carry counts and thresholds, never personal data."""

    kind: str  # e.g. "auth_failures_per_ip"
    tenant_id: str | None
    ip: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Smtp:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


def render_email(alert: Alert, tenant_name: str | None) -> tuple[str, str]:
    """Subject and body of the alert e-mail (pure)."""
    subject = f"[idproof] security alert: {alert.kind}"
    lines = [f"idproof raised a security alert for tenant {tenant_name or '(platform)'}.", "",
             f"kind: {alert.kind}"]
    if alert.ip:
        lines.append(f"address: {alert.ip}")
    lines += [f"{k}: {v}" for k, v in sorted(alert.details.items())]
    lines += ["", "The audit log has the event (action security.alert)."]
    return subject, "\n".join(lines) + "\n"


class AlertService:
    """`raise_alert` records `security.alert`, then notifies as configured.

    The audit event and the webhook are written in one transaction by `record` (wired in
    bootstrap); the e-mail goes out on a thread of its own so a slow SMTP server never
    holds a request."""

    def __init__(self, record: Callable[[Alert], str | None], *, smtp: Smtp | None,
                 recipients: Callable[[str | None], tuple[str | None, list[str]]]) -> None:
        self._record = record
        self._smtp = smtp
        self._recipients = recipients
        self.registry = CollectorRegistry()
        # Labelled by kind only: no IP, client, tenant or operator in a label.
        self.counter = Counter("idproof_security_alerts_total", "Security alerts by kind",
                               ["kind"], registry=self.registry)
        self._threads: list[threading.Thread] = []

    def raise_alert(self, alert: Alert) -> None:
        self.counter.labels(alert.kind).inc()
        try:
            self._record(alert)
        except Exception:  # an alert must never turn the request that tripped it into a 500
            log.exception("security_alert_record_failed", kind=alert.kind)
        log.warning("security_alert", kind=alert.kind, ip=alert.ip)
        if self._smtp is None:
            return
        tenant_name, to = self._recipients(alert.tenant_id)
        if not to:
            return
        t = threading.Thread(target=self._mail, args=(alert, tenant_name, to), daemon=True,
                             name="idproof-alert-mail")
        t.start()
        self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _mail(self, alert: Alert, tenant_name: str | None, to: list[str]) -> None:
        smtp = self._smtp
        assert smtp is not None
        subject, body = render_email(alert, tenant_name)
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = subject, smtp.sender, ", ".join(to)
        msg.set_content(body)
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as conn:
                if smtp.starttls:
                    conn.starttls()
                if smtp.username and smtp.password:
                    conn.login(smtp.username, smtp.password)
                conn.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("security_alert_mail_failed", error=type(exc).__name__)

    def join(self, timeout: float = 10.0) -> None:
        """Wait for pending e-mails (tests, shutdown)."""
        for t in self._threads:
            t.join(timeout)

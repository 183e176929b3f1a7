"""The seed's example: 100 failed authentications from one IP within a minute produce a
block, a `security.alert` audit event, a signed webhook and an e-mail (real SMTP, receiver)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from sqlalchemy import select
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from idproof.audit.models import AuditEventRow
from idproof.bootstrap import build_container
from idproof.config import Settings, SmtpSettings, WebhookSettings
from idproof.security.detectors import baseline_exceeded, over_rate
from idproof.web.app import create_app
from idproof.webhooks.schemas import CreateEndpoint
from idproof.webhooks.service import Caller
from tests.conftest import TEST_SECRET
from tests.webhook_receiver import Receiver, start_receiver, stop_receiver


class _Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[object] = []

    def handle_message(self, message: object) -> None:
        self.messages.append(message)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox, port = _Inbox(), _port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    yield inbox, port
    ctl.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = start_receiver()
    yield rec
    stop_receiver(rec)


def test_seed_example_block_audit_webhook_mail(tmp_path: Path, db_url: str, clock, smtp,
                                               receiver) -> None:
    inbox, port = smtp
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url,
                        secret_key=TEST_SECRET, public_url="http://testserver",
                        webhook_allow_private_networks=True,
                        webhooks=WebhookSettings(timeout_seconds=2, schedule=[5]),
                        smtp=SmtpSettings(host="127.0.0.1", port=port,
                                          sender="idproof@example.test"))
    settings.security.alerts.email_to = {"demo": ["security@demo.example"]}
    container = build_container(settings, clock)
    container.keys.ensure_key()
    tenant = container.tenants.ensure("demo")
    victim = container.clients.create("demo", "identity.verify")
    endpoint = container.webhooks.create_endpoint(Caller(tenant.id), CreateEndpoint(
        url=receiver.url(), event_types=["security.alert"]))
    app = create_app(container)
    ip = "198.51.100.66"
    with TestClient(app, client=(ip, 1)) as attacker:
        codes = [attacker.post("/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(victim.client.id, f"guess{i}")).status_code
                 for i in range(100)]
        # the first 20 are checked and fail; then the brute-force block refuses the rest
        assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}
    assert container.guard.retry_after(ip) is not None
    assert 890 <= container.guard.retry_after(ip) <= 900  # blocked for the block period
    with container.db.read() as s:
        alerts = s.scalars(select(AuditEventRow).where(
            AuditEventRow.action == "security.alert")).all()
    assert len(alerts) == 1
    assert alerts[0].tenant_id == tenant.id and alerts[0].ip == ip
    assert alerts[0].details["kind"] == "auth_failures_per_ip"
    assert alerts[0].details["threshold"] == 100
    # the webhook, signed per Standard Webhooks
    for d in container.webhooks.pending_due():
        container.webhooks.deliver(d)
    (got,) = receiver.wait_for(1)
    payload = Webhook(endpoint.secret).verify(got.body, got.headers)
    assert payload["type"] == "security.alert"
    assert payload["data"]["kind"] == "auth_failures_per_ip"
    # the e-mail to the tenant's admins, with no secret and no client credentials in it
    container.alerts.join()
    for _ in range(50):
        if inbox.messages:
            break
        time.sleep(0.1)
    (mail,) = inbox.messages
    assert mail["To"] == "security@demo.example"  # type: ignore[index]
    assert "auth_failures_per_ip" in mail["Subject"]  # type: ignore[index]
    assert victim.secret not in str(mail)
    # the counter, labelled by kind only
    assert container.alerts.registry.get_sample_value(
        "idproof_security_alerts_total", {"kind": "auth_failures_per_ip"}) == 1.0
    assert json.dumps(payload).count(victim.secret) == 0


@pytest.mark.parametrize(("count", "threshold", "alert"), [
    (99, 100, False), (100, 100, True), (150, 100, True), (1, 0, False)])
def test_over_rate(count: int, threshold: int, alert: bool) -> None:
    assert over_rate(count, threshold) is alert


@pytest.mark.parametrize(("today", "history", "alert"), [
    (49, [], False),  # below the minimum, whatever the history
    (50, [], True),  # no baseline yet: the minimum decides
    (60, [10, 10, 10, 10, 10, 10, 10], False),  # 6x the median
    (101, [10, 10, 10, 10, 10, 10, 10], True),  # over 10x
    (101, [0, 0, 0, 10, 10, 10, 10], True),
    (400, [1, 2, 50, 50, 50, 50, 50], False),  # one quiet day does not lower the median
    (49, [0, 0, 0, 0, 0, 0, 0], False),
])
def test_baseline_exceeded(today: int, history: list[int], alert: bool) -> None:
    assert baseline_exceeded(today, history) is alert

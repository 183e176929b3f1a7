"""Webhook deliveries that fail for good, per endpoint, raise `security.alert` (a real
receiver answering 500, the real delivery and retry schedule)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from idproof.config import Settings, WebhookSettings
from tests.conftest import TEST_SECRET
from tests.helpers import bearer, get_token
from tests.webhook_receiver import Receiver, start_receiver, stop_receiver

SCOPES = "identity.verify identity.read_status webhooks.manage"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=db_url, secret_key=TEST_SECRET,
                    public_url="http://testserver", webhook_allow_private_networks=True,
                    webhooks=WebhookSettings(timeout_seconds=0.5, schedule=[5]),
                    security={"detectors": {"webhook_failures_per_endpoint": 2}})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = start_receiver()
    yield rec
    stop_receiver(rec)


def test_failed_deliveries_per_endpoint_alert(api, make_client, container, receiver,
                                              clock) -> None:
    auth = bearer(get_token(api, make_client(scopes=SCOPES)))
    receiver.default = 500
    r = api.post("/v1/webhooks", json={"url": receiver.url(), "event_types": [
        "session.created"]}, headers=auth)
    assert r.status_code == 201, r.text
    endpoint = r.json()["id"]
    for _ in range(2):
        api.post("/v1/sessions", json={"reference": "u"}, headers=auth)
    statuses: list[str] = []
    for _ in range(2):  # the first attempt and the one retry
        statuses += [container.webhooks.deliver(d) for d in container.webhooks.pending_due()]
        clock.advance(60)
    assert statuses.count("failed") == 2
    alerts = [e for e in container.audit.list(action="security.alert")
              if e.details["kind"] == "webhook_failures_per_endpoint"]
    assert len(alerts) == 1 and alerts[0].details["endpoint_id"] == endpoint
    assert receiver.url() not in str(alerts[0].details)

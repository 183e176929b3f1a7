"""Webhooks and documents have queues and worker threads of their own: receivers that hang
hold webhook threads only, and a document job still runs at once."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from idproof.bootstrap import Container, build_container
from idproof.config import JobsSettings, Settings, WebhookSettings
from idproof.web.app import create_app
from idproof.webhooks.models import WebhookDelivery
from tests.colour_engines import ColourFaces, ColourReader, capture
from tests.conftest import TEST_SECRET
from tests.helpers import bearer, get_token
from tests.webhook_receiver import HANG, start_receiver, stop_receiver

pytestmark = pytest.mark.slow
# The document must be done while the first delivery still hangs: on a loaded 2-core CI
# machine a document took more than 6 s once; the test takes about this long.
HANG_SECONDS = 15.0


@pytest.fixture
def live(tmp_path: Path, db_url: str) -> Iterator[Container]:
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, secret_key=TEST_SECRET,
                        public_url="http://testserver", webhook_allow_private_networks=True,
                        jobs=JobsSettings(webhook_threads=1),
                        webhooks=WebhookSettings(timeout_seconds=HANG_SECONDS + 4,
                                                 schedule=[60.0]))
    c = build_container(settings, document_reader=ColourReader(), face_analyzer=ColourFaces())
    c.keys.ensure_key()
    c.tenants.ensure("demo")
    yield c
    c.close()


def test_a_hanging_receiver_does_not_delay_documents(live: Container) -> None:
    receiver = start_receiver()
    receiver.hang_seconds = HANG_SECONDS
    receiver.plan = deque([HANG] * 4)
    issued = live.clients.create("demo", "identity.verify identity.read_status webhooks.manage")
    try:
        with TestClient(create_app(live), client=("127.0.0.1", 50000)) as api:
            auth = bearer(get_token(api, type(
                "C", (), {"client_id": issued.client.id, "secret": issued.secret})()))
            r = api.post("/v1/webhooks", json={"url": receiver.url(),
                                               "event_types": ["session.created"]},
                         headers=auth)
            assert r.status_code == 201, r.text
            # One document thread; more hanging deliveries than that, which on a shared
            # pool would hold every thread.
            live.jobs.start_consumer(workers=1)
            for i in range(3):
                api.post("/v1/sessions", json={"reference": f"w{i}"}, headers=auth)
            receiver.wait_for(1)  # a delivery is now hanging
            sid = api.post("/v1/sessions", json={"reference": "doc", "workflow": "document_only"},
                           headers=auth).json()["id"]
            r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                         files={"file": ("d.jpg", capture("good", 1), "image/jpeg")},
                         headers=auth)
            assert r.status_code == 202, r.text
            state = "processing"
            for _ in range(400):
                state = api.get(f"/v1/sessions/{sid}", headers=auth).json()["steps"][0]["state"]
                if state != "processing":
                    break
                time.sleep(0.05)
            assert state == "passed"
            # ...while the first delivery is still waiting for its receiver.
            with live.db.read() as s:
                statuses = [d.status for d in s.query(WebhookDelivery)]
            assert "delivered" not in statuses and len(statuses) == 4, statuses
    finally:
        live.jobs.stop_consumer()
        stop_receiver(receiver)

"""The Redis-backed task queue: a document job queued in Redis is run by the consumer, and
nothing personal is ever written to Redis (jobs carry ids only)."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from PIL import Image

from idproof.bootstrap import Container, build_container
from idproof.config import JobsSettings, Settings
from idproof.core.clock import FrozenClock
from idproof.testing import DocumentGenerator
from idproof.web.app import create_app
from tests.conftest import REDIS_URL, TEST_SECRET
from tests.helpers import ApiClient, bearer, get_token

pytestmark = [pytest.mark.slow,
              pytest.mark.redis]
SCOPES = "identity.verify identity.read_status identity.read_pii"


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=92)
    return buf.getvalue()


@pytest.fixture
def redis_container(tmp_path: Path, db_url: str, clock: FrozenClock) -> Iterator[Container]:
    # A queue name of its own, so parallel test workers sharing the server never take each
    # other's jobs.
    queue = f"idprooftest{uuid.uuid4().hex[:12]}"
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, secret_key=TEST_SECRET,
                        public_url="http://testserver", redis_url=REDIS_URL,
                        jobs=JobsSettings(queue_name=queue))
    c = build_container(settings, clock)
    c.keys.ensure_key()
    c.tenants.ensure("demo")
    yield c
    for queue in c.jobs.queues:
        queue.storage.flush_all()
    c.close()


def test_document_job_runs_through_redis(redis_container: Container, clock: FrozenClock
                                         ) -> None:
    c = redis_container
    assert type(c.jobs.huey).__name__ == "RedisHuey"
    issued = c.clients.create("demo", SCOPES)
    with TestClient(create_app(c), client=("127.0.0.1", 50000)) as api:
        auth = bearer(get_token(api, ApiClient(issued.client.id, issued.secret, "demo")))
        passport = DocumentGenerator(seed=5, today=clock.now().date()).passport()
        sid = api.post("/v1/sessions", json={"reference": "u-r", "workflow": "document_only"},
                       headers=auth).json()["id"]
        r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                     files={"file": ("p.jpg", _jpeg(passport.front), "image/jpeg")},
                     headers=auth)
        assert r.status_code == 202, r.text
        # The job sits in Redis until a consumer takes it: look at what was written there.
        client = redis.Redis.from_url(REDIS_URL)
        keys = client.keys(f"*{c.settings.jobs.queue_name}*")
        stored = b"".join(client.dump(k) or b"" for k in keys)
        assert stored, "the job was not queued in Redis"
        assert sid.encode() in stored
        for secret in (passport.identity.surname, passport.identity.document_number):
            assert secret.encode() not in stored
        c.jobs.start_consumer(workers=1)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                body = api.get(f"/v1/sessions/{sid}", headers=auth).json()
                if body["steps"][0]["state"] != "processing":
                    break
                time.sleep(0.2)
        finally:
            c.jobs.stop_consumer()
        assert body["steps"][0]["state"] == "passed", body

"""Brute-force blocking at the token endpoint: in memory, and shared through Redis."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from idproof.audit.models import AuditEventRow
from idproof.bootstrap import build_container
from idproof.security.brute_force import BruteForceGuard
from idproof.web.app import create_app

REDIS = os.environ.get("IDPROOF_TEST_REDIS_URL")


def test_block_after_failures(settings, clock, make_client, caplog) -> None:
    settings.security.brute_force.max_failures = 5
    container = build_container(settings, clock)
    container.keys.ensure_key()
    container.tenants.ensure("demo")
    good = container.clients.create("demo", "identity.verify")
    app = create_app(container)
    data = {"grant_type": "client_credentials"}
    with TestClient(app, client=("198.51.100.7", 1)) as attacker:
        for _ in range(5):
            r = attacker.post("/oauth/token", data=data, auth=(good.client.id, "guess"))
            assert r.status_code == 401
        # blocked now, even with the right secret, on every path
        r = attacker.post("/oauth/token", data=data, auth=(good.client.id, good.secret))
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "ip_blocked"
        assert 800 < int(r.headers["retry-after"]) <= 900
        assert attacker.get("/v1/me").status_code == 429
    # another address is unaffected
    with TestClient(app, client=("198.51.100.8", 1)) as other:
        r = other.post("/oauth/token", data=data, auth=(good.client.id, good.secret))
        assert r.status_code == 200
    with container.db.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEventRow))]
    assert actions.count("security.ip_blocked") == 1
    container.close()


def test_block_expires(clock) -> None:
    guard = BruteForceGuard("memory://", max_failures=2, window_seconds=60, block_seconds=1)
    assert guard.register_failure("192.0.2.1") is False
    assert guard.register_failure("192.0.2.1") is True
    assert guard.retry_after("192.0.2.1") == 1
    import time
    time.sleep(1.1)
    assert guard.retry_after("192.0.2.1") is None


@pytest.mark.redis
@pytest.mark.redis
def test_block_shared_between_replicas_through_redis() -> None:
    assert REDIS is not None
    ip = f"203.0.113.{uuid.uuid4().int % 250}"
    a = BruteForceGuard(REDIS, max_failures=3, window_seconds=60, block_seconds=30)
    b = BruteForceGuard(REDIS, max_failures=3, window_seconds=60, block_seconds=30)
    try:
        a.register_failure(ip)
        b.register_failure(ip)
        assert a.retry_after(ip) is None
        assert a.register_failure(ip) is True  # third failure across two replicas
        assert b.retry_after(ip) is not None and 0 < b.retry_after(ip) <= 30
    finally:
        a.unblock(ip)
    assert b.retry_after(ip) is None

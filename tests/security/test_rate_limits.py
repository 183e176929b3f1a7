"""Route-group rate limits over the API: 429 with Retry-After and RateLimit headers."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from idproof.audit.models import AuditEventRow
from idproof.bootstrap import build_container
from idproof.security.route_limits import Check, RouteLimiter
from idproof.web.app import create_app


def _app(settings, clock):  # type: ignore[no-untyped-def]
    container = build_container(settings, clock)
    container.keys.ensure_key()
    container.tenants.ensure("demo")
    return container, create_app(container)


def _token(client: TestClient, cid: str, secret: str) -> str:
    r = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                    auth=(cid, secret))
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_per_ip_limit_and_health_checks_never_limited(settings, clock) -> None:
    settings.security.rate_limits.per_ip.api = "3/minute"
    container, app = _app(settings, clock)
    with TestClient(app, client=("198.51.100.20", 1)) as c:
        assert [c.get("/v1/me").status_code for _ in range(3)] == [401] * 3
        r = c.get("/v1/me")
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "rate_limited"
        assert "198.51.100.20" not in r.text
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert r.headers["ratelimit-policy"] == '"api.ip";q=3;w=60'
        assert r.headers["ratelimit"] == f'"api.ip";r=0;t={r.headers["retry-after"]}'
        # other groups, and health checks, are not affected
        assert all(c.get("/healthz").status_code == 200 for _ in range(20))
        assert c.get("/v1/sessions").status_code == 401
    with TestClient(app, client=("198.51.100.21", 1)) as other:
        assert other.get("/v1/me").status_code == 401
    with container.db.read() as s:
        rows = s.scalars(select(AuditEventRow).where(
            AuditEventRow.action == "security.rate_limited")).all()
    assert len(rows) == 1 and rows[0].details == {"policy": "api.ip"}


def test_per_client_limit_with_override(settings, clock) -> None:
    container, app = _app(settings, clock)
    a = container.clients.create("demo", "identity.verify")
    b = container.clients.create("demo", "identity.verify")
    container.clients.set_rate_limits(a.client.id, {"api": "2/minute"})
    with TestClient(app, client=("198.51.100.30", 1)) as c:
        ta, tb = _token(c, a.client.id, a.secret), _token(c, b.client.id, b.secret)
        first = c.get("/v1/me", headers={"authorization": f"Bearer {ta}"})
        assert first.status_code == 200
        assert first.headers["ratelimit-policy"] == '"api.client";q=2;w=60'
        assert first.headers["ratelimit"].startswith('"api.client";r=1;t=')
        assert c.get("/v1/me", headers={"authorization": f"Bearer {ta}"}).status_code == 200
        r = c.get("/v1/me", headers={"authorization": f"Bearer {ta}"})
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        assert r.headers["ratelimit-policy"] == '"api.client";q=2;w=60'
        assert "retry-after" in r.headers
        # the other client keeps the default (1200/minute)
        ok = c.get("/v1/me", headers={"authorization": f"Bearer {tb}"})
        assert ok.status_code == 200
        assert ok.headers["ratelimit-policy"] == '"api.client";q=1200;w=60'
    # back to the default
    container.clients.set_rate_limits(a.client.id, {"api": ""})
    assert container.clients.get(a.client.id, fresh=True).rate_limits == ()


def test_per_session_upload_limit(settings, clock) -> None:
    settings.security.rate_limits.session_uploads = "2/minute"
    _, app = _app(settings, clock)
    with TestClient(app, client=("198.51.100.40", 1)) as c:
        codes = [c.post("/v1/sessions/ses_x/documents").status_code for _ in range(3)]
        assert codes[:2] == [401, 401] and codes[2] == 429
        # another session is not affected
        assert c.post("/v1/sessions/ses_y/documents").status_code == 401


def test_cli_clients_update(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("IDPROOF_")}
    env["IDPROOF_DATA_DIR"] = str(tmp_path / "data")
    exe = str(Path(sys.executable).parent / "idproof")
    created = json.loads(subprocess.run(
        [exe, "clients", "create", "--tenant", "demo", "--scopes", "identity.verify", "--json"],
        env=env, capture_output=True, text=True, check=True).stdout)
    r = subprocess.run([exe, "clients", "update", created["client_id"], "--rate",
                        "sessions=600/minute", "--rate", "vault=5/second"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "sessions=600/minute" in r.stdout and "vault=5/second" in r.stdout
    bad = subprocess.run([exe, "clients", "update", created["client_id"], "--rate",
                          "sessions=lots"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "not a rate limit" in bad.stderr


@pytest.mark.redis
def test_redis_limits_are_counted_off_the_event_loop() -> None:
    """With Redis, the edge and client limits never wait on its socket on the event loop: the
    count runs in a worker thread, on the same keys as the synchronous check."""
    from tests.conftest import REDIS_URL

    assert REDIS_URL is not None
    limiter = RouteLimiter(REDIS_URL)
    check = Check("api.ip", "3/minute", f"203.0.113.{secrets.randbelow(250)}-"
                  f"{secrets.token_hex(4)}")
    threads: list[int] = []
    acquire = limiter.storage.acquire_entry

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.get_ident())  # the real Redis call still happens
        return acquire(*args, **kwargs)

    limiter.storage.acquire_entry = spy  # type: ignore[method-assign]

    async def three() -> tuple[int, list[bool]]:
        loop_thread = threading.get_ident()
        return loop_thread, [(await limiter.check_async([check])).allowed for _ in range(3)]

    loop_thread, allowed = asyncio.run(three())
    assert allowed == [True, True, True]
    assert threads and loop_thread not in threads
    refused = limiter.check([check])  # the fourth, synchronously: the same window
    assert not refused.allowed and refused.retry_after is not None
    limiter.clear(check)

"""Under the benchmark's load path (route limits off, client_secret_basic, the grant served from
the caches on the event loop) wrong secrets are still refused, counted toward the IP and the
client block, and a block holds against the cached fast path too."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from idproof.audit.models import AuditEventRow
from idproof.bootstrap import build_container
from idproof.web.app import create_app

GRANT = {"grant_type": "client_credentials"}


def _client(app: object, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 1))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://idproof.test")


@pytest.mark.parametrize("redis", [False, pytest.param(True, marks=pytest.mark.redis)])
def test_wrong_secrets_count_while_grants_run(settings, clock, redis) -> None:
    import os
    import uuid

    if redis:  # the counters shared by replicas, read on the event loop with asyncio Redis
        settings.redis_url = SecretStr(os.environ["IDPROOF_TEST_REDIS_URL"])
        settings.jobs.queue_name = f"test-bf-{uuid.uuid4().hex}"
    settings.security.rate_limits.enabled = False  # as bench/oauth_token.py runs it
    settings.security.brute_force.max_failures = 5
    settings.security.brute_force.client_max_failures = 6
    container = build_container(settings, clock)
    container.keys.ensure_key()
    container.tenants.ensure("demo")
    good = container.clients.create("demo", "identity.verify")
    app = create_app(container)
    suffix = uuid.uuid4().int % 200 + 20  # Redis is shared between runs: fresh addresses
    load_ip, attacker_ip, other_ip = (f"198.51.100.{suffix}", f"203.0.113.{suffix}",
                                      f"192.0.2.{suffix}")

    async def main() -> tuple[list[int], list[int], int, int, int]:
        async with _client(app, load_ip) as load, _client(app, attacker_ip) as attacker, \
                _client(app, other_ip) as other:
            # Warm: the client and its verified secret are cached; grants take the fast path.
            assert (await load.post("/oauth/token", data=GRANT,
                                    auth=(good.client.id, good.secret))).status_code == 200
            grants = [load.post("/oauth/token", data=GRANT, auth=(good.client.id, good.secret))
                      for _ in range(120)]
            wrong = [attacker.post("/oauth/token", data=GRANT, auth=(good.client.id, f"x{i}"))
                     for i in range(4)]
            answers = await asyncio.gather(*grants, *wrong)
            ok = [r.status_code for r in answers[:120]]
            refused = [r.status_code for r in answers[120:]]
            # The fifth failure from the attacker's address starts its block ...
            fifth = (await attacker.post("/oauth/token", data=GRANT,
                                         auth=(good.client.id, "x5"))).status_code
            blocked = (await attacker.post("/oauth/token", data=GRANT,
                                           auth=(good.client.id, good.secret))).status_code
            # ... and the sixth failure of this client, from anywhere, blocks the client:
            # then even its cached, right secret is refused from the load's address.
            await other.post("/oauth/token", data=GRANT, auth=(good.client.id, "x6"))
            after = (await load.post("/oauth/token", data=GRANT,
                                     auth=(good.client.id, good.secret)))
            return ok, refused, fifth, blocked, after.status_code

    ok, refused, fifth, blocked, after = asyncio.run(main())
    assert ok == [200] * 120
    # The grants took the event loop's path, their audit INSERTs shared commits.
    assert 0 < container.audit.async_writes < 120
    assert refused == [401] * 4
    assert fifth == 401 and blocked == 429
    assert after == 429
    container.audit.integrate_all()
    with container.db.read() as s:
        actions = list(s.scalars(select(AuditEventRow.action)))
    assert actions.count("token.issued") == 121  # every grant is an audit event
    assert actions.count("security.ip_blocked") == 1
    assert actions.count("security.client_blocked") == 1
    if redis:
        container.guard.unblock(attacker_ip)
        container.guard.unblock_client(good.client.id)
    container.close()

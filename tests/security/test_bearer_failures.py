"""Bad bearer tokens have their own limit; only client authentications block an IP."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from idproof.audit.models import AuditEventRow
from idproof.bootstrap import build_container
from idproof.web.app import create_app
from tests.helpers import bearer

NAT = ("198.51.100.20", 1)
DATA = {"grant_type": "client_credentials"}


def _setup(settings, clock):  # type: ignore[no-untyped-def]
    container = build_container(settings, clock)
    container.keys.ensure_key()
    container.tenants.ensure("demo")
    issued = container.clients.create("demo", "identity.verify identity.read_status")
    return container, issued.client.id, issued.secret


def _actions(container) -> list[str]:  # type: ignore[no-untyped-def]
    with container.db.read() as s:
        return [e.action for e in s.scalars(select(AuditEventRow))]


def test_bad_bearer_tokens_never_block_the_ip(settings, clock) -> None:
    container, cid, secret = _setup(settings, clock)
    app = create_app(container)
    with TestClient(app, client=NAT) as c:
        token = c.post("/oauth/token", data=DATA, auth=(cid, secret)).json()["access_token"]
        clock.advance(600 + 31)  # the client is now stuck on an expired token
        for _ in range(30):
            r = c.get("/v1/me", headers=bearer(token))
            assert r.status_code == 401 and r.json()["code"] == "invalid_token"
        for junk in ("x" * 40, token + "x", "a.b.c"):
            assert c.get("/v1/me", headers=bearer(junk)).status_code == 401
        # nothing else on the address is affected
        assert c.get("/healthz").status_code == 200
        assert c.get("/verify/s").status_code == 401  # the hosted flow answers as usual
        fresh = c.post("/oauth/token", data=DATA, auth=(cid, secret))
        assert fresh.status_code == 200
        me = c.get("/v1/me", headers=bearer(fresh.json()["access_token"]))
        assert me.status_code == 200
    assert "security.ip_blocked" not in _actions(container)
    container.close()


def test_bad_bearer_limit_is_per_issuer_and_spares_valid_tokens(settings, clock) -> None:
    settings.security.brute_force.bearer_max_failures = 5
    container, cid, secret = _setup(settings, clock)
    other = container.clients.create("demo", "identity.read_status")
    app = create_app(container)
    with TestClient(app, client=NAT) as c:
        stale = c.post("/oauth/token", data=DATA, auth=(cid, secret)).json()["access_token"]
        clock.advance(600 + 31)
        codes = [c.get("/v1/me", headers=bearer(stale)).status_code for _ in range(7)]
        assert codes == [401] * 5 + [429] * 2
        r = c.get("/v1/me", headers=bearer(stale))
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "too_many_invalid_tokens"
        assert 0 < int(r.headers["retry-after"]) <= 60
        # the same client's valid token, another client's token, secrets, health: all fine
        good = c.post("/oauth/token", data=DATA, auth=(cid, secret))
        assert good.status_code == 200
        assert c.get("/v1/me", headers=bearer(good.json()["access_token"])).status_code == 200
        o = c.post("/oauth/token", data=DATA, auth=(other.client.id, other.secret))
        assert c.get("/v1/me", headers=bearer(o.json()["access_token"])).status_code == 200
        # another issuer's bad token is still a plain 401
        assert c.get("/v1/me", headers=bearer("x" * 40)).status_code == 401
        assert c.get("/healthz").status_code == 200
    actions = _actions(container)
    assert actions.count("security.bearer_throttled") == 1
    assert "security.ip_blocked" not in actions
    container.close()


def test_ip_block_spares_health_and_hosted_flow(settings, clock) -> None:
    settings.security.brute_force.max_failures = 3
    container, cid, secret = _setup(settings, clock)
    app = create_app(container)
    with TestClient(app, client=NAT) as c:
        for _ in range(3):
            assert c.post("/oauth/token", data=DATA, auth=(cid, "guess")).status_code == 401
        r = c.post("/oauth/token", data=DATA, auth=(cid, secret))
        assert r.status_code == 429 and r.json()["code"] == "ip_blocked"
        assert c.get("/v1/me").status_code == 429
        assert c.get("/healthz").status_code == 200
        assert c.get("/verify/s").status_code == 401  # not 429: end users behind the NAT
        assert c.get("/verify/assets/hosted.css").status_code != 429
    container.close()


def test_failures_counted_per_client_across_addresses(settings, clock) -> None:
    settings.security.brute_force.client_max_failures = 4
    container, cid, secret = _setup(settings, clock)
    other = container.clients.create("demo", "identity.read_status")
    app = create_app(container)
    for i in range(4):  # a distributed guess: one failure from each of four addresses
        with TestClient(app, client=(f"203.0.113.{i + 1}", 1)) as c:
            assert c.post("/oauth/token", data=DATA, auth=(cid, "guess")).status_code == 401
    with TestClient(app, client=("203.0.113.50", 1)) as c:
        r = c.post("/oauth/token", data=DATA, auth=(cid, secret))
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "client_blocked"
        assert 0 < int(r.headers["retry-after"]) <= 900
        # other clients and the address itself are unaffected
        ok = c.post("/oauth/token", data=DATA, auth=(other.client.id, other.secret))
        assert ok.status_code == 200
        assert c.get("/healthz").status_code == 200
    actions = _actions(container)
    assert actions.count("security.client_blocked") == 1
    assert "security.ip_blocked" not in actions
    container.close()

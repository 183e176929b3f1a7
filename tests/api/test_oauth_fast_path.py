"""The grant served on the event loop from the caches: the same answer and audit event as the
full use case, renewals ahead of expiry that still see another replica's changes, and
anything unusual left to the full path."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import select

from idproof.audit.models import AuditEventRow
from idproof.bootstrap import build_container

GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def long_client_cache(settings):
    """The client view cached for 10 s: on a loaded machine more than the default 0.5 s can
    pass between two requests, and the second would then (rightly) take the full path."""
    settings.auth.client_cache_seconds = 10.0
    return settings


def test_cached_grants_answer_and_audit_like_the_full_path(long_client_cache, container, api,
                                                           make_client) -> None:
    c = make_client()
    first = api.post("/oauth/token", data=GRANT, auth=(c.client_id, c.secret))
    writes = container.audit.async_writes
    second = api.post("/oauth/token", data=GRANT, auth=(c.client_id, c.secret))
    assert first.status_code == second.status_code == 200
    assert container.audit.async_writes == writes + 1  # the second took the cached path
    a, b = first.json(), second.json()
    assert a.keys() == b.keys()
    assert a["scope"] == b["scope"] == "identity.verify identity.read_status"
    assert second.headers["cache-control"] == first.headers["cache-control"]
    assert api.get("/v1/me", headers={"Authorization": f"Bearer {b['access_token']}"}
                   ).status_code == 200
    container.audit.integrate_all()
    with container.db.read() as s:
        issued = list(s.scalars(select(AuditEventRow).where(
            AuditEventRow.action == "token.issued")))
    assert len(issued) == 2
    assert {e.actor_id for e in issued} == {c.client_id}
    assert issued[1].details == {"scopes": ["identity.verify", "identity.read_status"],
                                 "bound": False}


def test_unusual_requests_take_the_full_path(container, api, make_client) -> None:
    c = make_client()
    assert api.post("/oauth/token", data=GRANT, auth=(c.client_id, c.secret)).status_code == 200
    writes = container.audit.async_writes
    # A scope not granted, another grant type, a wrong secret: refused as always (audited,
    # counted), none of them by the cached path.
    r = api.post("/oauth/token", data={**GRANT, "scope": "identity.admin"},
                 auth=(c.client_id, c.secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = api.post("/oauth/token", data={"grant_type": "password"}, auth=(c.client_id, c.secret))
    assert r.json()["error"] == "unsupported_grant_type"
    r = api.post("/oauth/token", data=GRANT, auth=(c.client_id, "wrong"))
    assert r.status_code == 401
    assert container.audit.async_writes == writes
    # Disabling on this process is seen at once, cached secret or not.
    container.clients.disable(c.client_id)
    r = api.post("/oauth/token", data=GRANT, auth=(c.client_id, c.secret))
    assert r.status_code == 401


def test_renewal_sees_another_replicas_changes(settings, clock, container) -> None:
    issued = container.clients.create("demo", "identity.verify")
    cid, secret = issued.client.id, issued.secret
    clients = container.clients
    assert clients.cached(cid) is None and not clients.secret_cached(cid, secret)
    assert clients.get(cid) is not None and clients.check_secret(cid, secret)
    assert clients.cached(cid) is not None and clients.secret_cached(cid, secret)
    other = build_container(settings, clock)  # another replica, with caches of its own
    try:
        other.clients.rotate_secret(cid, timedelta(0))  # the old secret ends now
        other.clients.disable(cid)
    finally:
        other.close()
    assert clients.secret_cached(cid, secret)  # within this replica's staleness bound
    clients.refresh(cid, secret)
    view = clients.cached(cid)
    assert view is not None and view.disabled
    assert not clients.secret_cached(cid, secret)


def test_the_switch_sends_every_grant_to_the_thread(container, api, make_client) -> None:
    container.settings.auth.grant_on_event_loop = False
    c = make_client()
    for _ in range(3):
        assert api.post("/oauth/token", data=GRANT,
                        auth=(c.client_id, c.secret)).status_code == 200
    assert container.audit.async_writes == 0


def test_concurrent_cached_grants_each_get_a_valid_audited_token(
        long_client_cache, container, make_client) -> None:
    # 40 grants at once on one event loop, through the cached path: each caller gets its own
    # valid token, every one audited, their INSERTs batched.
    import asyncio

    from idproof.auth.oauth import OAuthRequest

    c = make_client()
    oauth = container.oauth
    basic = "Basic " + base64.b64encode(f"{c.client_id}:{c.secret}".encode()).decode()

    def request(i: int) -> OAuthRequest:
        return OAuthRequest(form=[("grant_type", "client_credentials")], authorization=basic,
                            ip="192.0.2.7", request_id=f"req{i}", client_cert=None)

    oauth.token(request(-1))  # the client and its verified secret into the caches
    writes = container.audit.async_writes

    async def grants() -> list[dict[str, object] | None]:
        return await asyncio.gather(*(oauth.token_cached(request(i)) for i in range(40)))

    bodies = asyncio.run(grants())
    assert all(b is not None for b in bodies)
    tokens = [str(b["access_token"]) for b in bodies if b is not None]
    assert len(set(tokens)) == 40
    assert 1 <= container.audit.async_writes - writes < 40  # batched, not one write each
    claims = [oauth._decode(t) for t in tokens]  # signature, issuer, audience, expiry
    jtis = {cl.jti for cl in claims if cl is not None}
    assert len(jtis) == 40
    container.audit.integrate_all()
    with container.db.read() as s:
        audited = set(s.scalars(select(AuditEventRow.target_id).where(
            AuditEventRow.action == "token.issued", AuditEventRow.request_id.like("req%"))))
    assert jtis <= audited  # every token handed out was audited first

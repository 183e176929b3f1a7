"""Revocation, introspection, discovery, signing key rotation and `GET /v1/me`."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from idproof.bootstrap import build_container
from idproof.core.clock import FrozenClock
from idproof.web.app import create_app
from tests.helpers import bearer, get_token


def test_me(api, make_client) -> None:
    c = make_client(scopes="identity.verify")
    r = api.get("/v1/me", headers=bearer(get_token(api, c)))
    assert r.status_code == 200
    body = r.json()
    assert body["client_id"] == c.client_id and body["tenant"] == "demo"
    assert body["scopes"] == ["identity.verify"]
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not.a.token", "Basic abc",
                                    "Bearer " + "x" * 5000])
def test_me_without_valid_token(api, header) -> None:
    r = api.get("/v1/me", headers={"authorization": header} if header else {})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["code"] in {"missing_token", "invalid_token"}


def test_revoke(api, make_client, container) -> None:
    c = make_client()
    token = get_token(api, c)
    other = make_client()
    # another client cannot revoke it (200 per RFC 7009, nothing happens)
    r = api.post("/oauth/revoke", data={"token": token}, auth=(other.client_id, other.secret))
    assert r.status_code == 200
    assert api.get("/v1/me", headers=bearer(token)).status_code == 200
    r = api.post("/oauth/revoke", data={"token": token, "token_type_hint": "access_token"},
                 auth=(c.client_id, c.secret))
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert api.get("/v1/me", headers=bearer(token)).status_code == 401
    # idempotent, garbage accepted silently
    assert api.post("/oauth/revoke", data={"token": token},
                    auth=(c.client_id, c.secret)).status_code == 200
    assert api.post("/oauth/revoke", data={"token": "junk"},
                    auth=(c.client_id, c.secret)).status_code == 200
    # missing token parameter, unauthenticated caller
    assert api.post("/oauth/revoke", data={}, auth=(c.client_id, c.secret)).status_code == 400
    assert api.post("/oauth/revoke", data={"token": token}).status_code == 401


def test_revocation_reaches_another_replica(settings, make_client, api) -> None:
    """A second container on the same database sees the revocation after its short poll."""
    c = make_client()
    token = get_token(api, c)
    replica_clock = FrozenClock()
    replica = build_container(settings, replica_clock)
    replica.revocations._refresh = 0.0  # poll on every check for the test
    with TestClient(create_app(replica), client=("127.0.0.1", 1)) as other:
        assert other.get("/v1/me", headers=bearer(token)).status_code == 200
        api.post("/oauth/revoke", data={"token": token}, auth=(c.client_id, c.secret))
        assert other.get("/v1/me", headers=bearer(token)).status_code == 401
    replica.close()


def test_introspect(api, make_client) -> None:
    c = make_client()
    token = get_token(api, c)
    r = api.post("/oauth/introspect", data={"token": token}, auth=(c.client_id, c.secret))
    body = r.json()
    assert r.status_code == 200 and body["active"] is True
    assert body["client_id"] == c.client_id and body["scope"] == (
        "identity.verify identity.read_status")
    # another tenant sees nothing
    foreign = make_client(tenant="acme")
    r = api.post("/oauth/introspect", data={"token": token},
                 auth=(foreign.client_id, foreign.secret))
    assert r.json() == {"active": False}
    # revoked and invalid tokens are inactive
    api.post("/oauth/revoke", data={"token": token}, auth=(c.client_id, c.secret))
    r = api.post("/oauth/introspect", data={"token": token}, auth=(c.client_id, c.secret))
    assert r.json() == {"active": False}
    r = api.post("/oauth/introspect", data={"token": "nope"}, auth=(c.client_id, c.secret))
    assert r.json() == {"active": False}
    assert api.post("/oauth/introspect", data={"token": token}).status_code == 401


def test_expired_token_refused(api, make_client, clock) -> None:
    c = make_client()
    token = get_token(api, c)
    clock.advance(600 + 31)
    r = api.get("/v1/me", headers=bearer(token))
    assert r.status_code == 401


def test_discovery(api) -> None:
    meta = api.get("/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == "http://testserver"
    assert meta["token_endpoint"] == "http://testserver/oauth/token"
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth",
        "self_signed_tls_client_auth"}
    assert meta["tls_client_certificate_bound_access_tokens"] is True
    assert meta["grant_types_supported"] == ["client_credentials"]
    jwks = api.get("/.well-known/jwks.json").json()
    assert len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA"
    assert "d" not in key


def test_signing_key_rotation(api, make_client, container, clock) -> None:
    c = make_client()
    old_token = get_token(api, c)
    old_kid = container.keys.keyset().current_kid
    new_kid = container.keys.rotate()
    kids = {k["kid"] for k in api.get("/.well-known/jwks.json").json()["keys"]}
    assert kids == {old_kid, new_kid}
    new_token = get_token(api, c)
    import base64
    import json
    header = json.loads(base64.urlsafe_b64decode(new_token.split(".")[0] + "=="))
    assert header["kid"] == new_kid
    for t in (old_token, new_token):
        assert api.get("/v1/me", headers=bearer(t)).status_code == 200
    # after the longest token lifetime, the old key leaves the JWKS
    clock.advance(600 + 30 + 61)
    container.keys.invalidate()
    kids = {k["kid"] for k in api.get("/.well-known/jwks.json").json()["keys"]}
    assert kids == {new_kid}

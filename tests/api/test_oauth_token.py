"""The token endpoint: every client authentication method, and every way to get it wrong."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey
from sqlalchemy import func, select

from idproof.audit.models import AuditEventRow
from idproof.bootstrap import Container
from idproof.core.clock import FrozenClock
from tests.helpers import ApiClient, get_token

TOKEN_URL = "http://testserver/oauth/token"


def audit_actions(container: Container) -> list[tuple[str, str]]:
    with container.db.session() as s:
        return [(r.action, r.outcome) for r in s.scalars(
            select(AuditEventRow).order_by(AuditEventRow.id))]


def claims_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def test_client_secret_basic(api, make_client, container) -> None:
    c = make_client()
    r = api.post("/oauth/token", data={"grant_type": "client_credentials"},
                 auth=(c.client_id, c.secret))
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["scope"] == "identity.verify identity.read_status"
    cl = claims_of(body["access_token"])
    assert cl["sub"] == c.client_id and cl["aud"] == "idproof-api"
    assert cl["iss"] == "http://testserver" and cl["exp"] - cl["iat"] == 600
    assert ("token.issued", "success") in audit_actions(container)


def test_client_secret_post(api, make_client) -> None:
    c = make_client()
    r = api.post("/oauth/token", data={"grant_type": "client_credentials",
                                       "client_id": c.client_id, "client_secret": c.secret})
    assert r.status_code == 200, r.text


def test_scope_narrowing_and_invalid_scope(api, make_client, container) -> None:
    c = make_client()
    token = get_token(api, c, scope="identity.verify")
    assert claims_of(token)["scope"] == "identity.verify"
    r = api.post("/oauth/token", data={"grant_type": "client_credentials",
                                       "scope": "identity.verify identity.read_pii"},
                 auth=(c.client_id, c.secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = api.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "nope"},
                 auth=(c.client_id, c.secret))
    assert r.json()["error"] == "invalid_scope"
    assert ("token.refused", "failure") in audit_actions(container)


@pytest.mark.parametrize("auth", [("cli_nope", "x"), None, "wrong-secret"])
def test_bad_credentials_say_nothing_specific(api, make_client, container, auth) -> None:
    c = make_client()
    if auth == "wrong-secret":
        auth = (c.client_id, c.secret + "x")
    kwargs = {"auth": auth} if auth else {}
    before = len(audit_actions(container))
    r = api.post("/oauth/token", data={"grant_type": "client_credentials"}, **kwargs)
    assert r.status_code == 401
    assert r.json() == {"error": "invalid_client",
                        "error_description": "client authentication failed"}
    assert r.headers["www-authenticate"].startswith("Basic")
    assert r.headers["cache-control"] == "no-store"
    events = audit_actions(container)[before:]
    assert events == [("token.refused", "failure")]


def test_unknown_grant_and_missing_grant(api, make_client) -> None:
    c = make_client()
    r = api.post("/oauth/token", data={"grant_type": "password"}, auth=(c.client_id, c.secret))
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = api.post("/oauth/token", data={}, auth=(c.client_id, c.secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_malformed_requests(api, make_client, container) -> None:
    c = make_client()
    auth = (c.client_id, c.secret)
    # duplicated parameter
    r = api.post("/oauth/token", content="grant_type=client_credentials&grant_type=x",
                 headers={"content-type": "application/x-www-form-urlencoded"}, auth=auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    # wrong content type
    r = api.post("/oauth/token", json={"grant_type": "client_credentials"}, auth=auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    # not UTF-8
    r = api.post("/oauth/token", content=b"grant_type=\xff\xfe",
                 headers={"content-type": "application/x-www-form-urlencoded"}, auth=auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    # two authentication methods at once
    r = api.post("/oauth/token", data={"grant_type": "client_credentials",
                                       "client_id": c.client_id, "client_secret": c.secret},
                 auth=auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    # huge body
    r = api.post("/oauth/token", content=b"a=" + b"x" * 2_000_000,
                 headers={"content-type": "application/x-www-form-urlencoded"}, auth=auth)
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    # garbage Basic header
    r = api.post("/oauth/token", data={"grant_type": "client_credentials"},
                 headers={"authorization": "Basic !!!notbase64"})
    assert r.status_code == 401
    # every refusal was audited, none issued a token
    actions = audit_actions(container)
    assert ("token.issued", "success") not in actions
    assert actions.count(("oauth.token_refused", "failure")) >= 3


def test_disabled_client_and_its_tokens(api, make_client, container) -> None:
    c = make_client()
    token = get_token(api, c)
    assert api.get("/v1/me", headers={"authorization": f"Bearer {token}"}).status_code == 200
    container.clients.disable(c.client_id)
    r = api.post("/oauth/token", data={"grant_type": "client_credentials"},
                 auth=(c.client_id, c.secret))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = api.get("/v1/me", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"


def test_secret_rotation_grace(api, make_client, container, clock: FrozenClock) -> None:
    c = make_client()
    new = container.clients.rotate_secret(c.client_id, timedelta(hours=24)).secret
    for secret in (c.secret, new):
        r = api.post("/oauth/token", data={"grant_type": "client_credentials"},
                     auth=(c.client_id, secret))
        assert r.status_code == 200
    clock.advance(24 * 3600 + 1)
    r = api.post("/oauth/token", data={"grant_type": "client_credentials"},
                 auth=(c.client_id, c.secret))
    assert r.status_code == 401
    r = api.post("/oauth/token", data={"grant_type": "client_credentials"},
                 auth=(c.client_id, new))
    assert r.status_code == 200


def test_ip_allowlist_at_token_endpoint_and_api(container, make_client) -> None:
    from starlette.testclient import TestClient

    from idproof.web.app import create_app

    c = make_client(allowed_ips=["10.1.0.0/16"])
    app = create_app(container)
    with TestClient(app, client=("10.2.0.5", 1)) as outside:
        r = outside.post("/oauth/token", data={"grant_type": "client_credentials"},
                         auth=(c.client_id, c.secret))
        assert r.status_code == 401
    with TestClient(app, client=("10.1.3.4", 1)) as inside:
        token = get_token(inside, c)
        assert inside.get("/v1/me", headers={"authorization": f"Bearer {token}"}
                          ).status_code == 200
    with TestClient(app, client=("10.2.0.5", 1)) as outside:
        r = outside.get("/v1/me", headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 403 and r.json()["code"] == "ip_not_allowed"


def test_forwarded_for_only_from_trusted_proxy(settings, clock, make_client) -> None:
    from starlette.testclient import TestClient

    from idproof.bootstrap import build_container
    from idproof.web.app import create_app

    settings.security.trusted_proxies = ["127.0.0.1/32"]
    container = build_container(settings, clock)
    container.keys.ensure_key()
    issued = container.clients.create("demo", "identity.verify", allowed_ips=["192.0.2.0/24"])
    app = create_app(container)
    data = {"grant_type": "client_credentials"}
    auth = (issued.client.id, issued.secret)
    with TestClient(app, client=("127.0.0.1", 1)) as via_proxy:
        r = via_proxy.post("/oauth/token", data=data, auth=auth,
                           headers={"x-forwarded-for": "198.51.100.1, 192.0.2.7"})
        assert r.status_code == 200
        # the client wrote the left part; the proxy appended the real peer on the right
        r = via_proxy.post("/oauth/token", data=data, auth=auth,
                           headers={"x-forwarded-for": "192.0.2.7, 198.51.100.1"})
        assert r.status_code == 401
    with TestClient(app, client=("203.0.113.9", 1)) as direct:
        r = direct.post("/oauth/token", data=data, auth=auth,
                        headers={"x-forwarded-for": "192.0.2.7"})
        assert r.status_code == 401
    container.close()


# -- private_key_jwt ---------------------------------------------------------------------

@pytest.fixture
def jwt_client(make_client, tmp_path: Path):
    key = OKPKey.generate_key("Ed25519")
    c = make_client(jwk=key.as_dict(private=False))
    return c, key


def assertion(c: ApiClient, key, *, alg: str = "EdDSA", **overrides) -> str:
    now = int(time.time())
    claims = {"iss": c.client_id, "sub": c.client_id, "aud": TOKEN_URL, "iat": now,
              "exp": now + 120, "jti": uuid.uuid4().hex}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg}, claims, key, algorithms=[alg])


def jwt_grant(api, a: str):
    return api.post("/oauth/token", data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": a})


def test_private_key_jwt(api, jwt_client, container) -> None:
    c, key = jwt_client
    a = assertion(c, key)
    r = jwt_grant(api, a)
    assert r.status_code == 200, r.text
    # the issuer is an accepted audience too
    assert jwt_grant(api, assertion(c, key, aud="http://testserver")).status_code == 200
    # replay of the same assertion
    r = jwt_grant(api, a)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    with container.db.session() as s:
        reasons = [r.details.get("reason") for r in s.scalars(select(AuditEventRow))]
    assert "assertion_replayed" in reasons


@pytest.mark.parametrize("bad", [
    {"aud": "https://elsewhere.example/token"},
    {"exp": int(time.time()) + 3600},
    {"exp": int(time.time()) - 120},
    {"exp": None},
    {"jti": None},
    {"sub": "cli_other"},
])
def test_private_key_jwt_bad_claims(api, jwt_client, bad) -> None:
    c, key = jwt_client
    r = jwt_grant(api, assertion(c, key, **bad))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_private_key_jwt_wrong_key_and_alg(api, jwt_client) -> None:
    c, _ = jwt_client
    other = OKPKey.generate_key("Ed25519")
    assert jwt_grant(api, assertion(c, other)).status_code == 401
    ec = ECKey.generate_key("P-256")
    assert jwt_grant(api, assertion(c, ec, alg="ES256")).status_code == 401


def test_private_key_jwt_for_secret_only_client(api, make_client) -> None:
    c = make_client()
    key = OKPKey.generate_key("Ed25519")
    assert jwt_grant(api, assertion(c, key)).status_code == 401


def test_nothing_written_on_refusal(api, make_client, container) -> None:
    """Refused requests add audit events and nothing else."""
    from idproof.auth.models import Client, ClientSecret, RevokedToken, UsedAssertion

    c = make_client()
    with container.db.session() as s:
        before = {m.__name__: s.scalar(select(func.count()).select_from(m))
                  for m in (Client, ClientSecret, RevokedToken, UsedAssertion)}
    api.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(c.client_id, "x"))
    api.post("/oauth/token", data={"grant_type": "password"}, auth=(c.client_id, c.secret))
    api.post("/oauth/revoke", data={"token": "garbage"}, auth=(c.client_id, "x"))
    with container.db.session() as s:
        after = {m.__name__: s.scalar(select(func.count()).select_from(m))
                 for m in (Client, ClientSecret, RevokedToken, UsedAssertion)}
    assert before == after

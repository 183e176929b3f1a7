"""The edge's direct routes (`POST /oauth/token`, `GET /v1/me`) answer exactly as the FastAPI
routes they stand for: the same status, body and headers for grants, refusals, bad tokens,
revocation, disabled clients, rate limits, a blocked client and a body over the limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.web import middleware
from idproof.web.app import create_app
from tests.helpers import bearer

GRANT = {"grant_type": "client_credentials"}
# Differ between any two requests: the request id, and the RateLimit counts and times.
VARYING_HEADERS = {"x-request-id", "ratelimit", "retry-after", "content-length"}


@pytest.fixture
def served(container: Container, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Two apps on one container: the edge's direct routes on, and off (the router only);
    `direct` counts the requests the direct routes answered."""
    calls = {"direct": 0}
    serve = middleware.serve_direct

    async def counted(*args: Any) -> None:
        calls["direct"] += 1
        await serve(*args)

    monkeypatch.setattr(middleware, "serve_direct", counted)
    kw: dict[str, Any] = {"client": ("127.0.0.1", 50000), "raise_server_exceptions": False}
    with TestClient(create_app(container), **kw) as direct, \
            TestClient(create_app(container, direct_routes=False), **kw) as routed:
        yield {"direct": direct, "routed": routed, "calls": calls}


def _body(r: httpx.Response) -> Any:
    if not r.content:
        return None
    body = r.json()
    if isinstance(body, dict):
        body.pop("request_id", None)
        if "access_token" in body:
            body["access_token"] = "…"
    return body


def same(served: dict[str, Any], method: str, path: str, **kw: Any) -> httpx.Response:
    """The request on both apps; asserts the same answer and returns the direct one's."""
    before = served["calls"]["direct"]
    a = served["direct"].request(method, path, **kw)
    b = served["routed"].request(method, path, **kw)
    assert (a.status_code, _body(a)) == (b.status_code, _body(b)), (a.text, b.text)
    ha = {k: v for k, v in a.headers.items() if k not in VARYING_HEADERS}
    hb = {k: v for k, v in b.headers.items() if k not in VARYING_HEADERS}
    assert ha == hb
    assert set(a.headers) == set(b.headers)
    assert a.headers["x-request-id"] != b.headers["x-request-id"]
    served["calls"]["after"] = served["calls"]["direct"] - before
    return a


def test_grants_and_refusals_match(served, container, make_client) -> None:
    c = make_client()
    r = same(served, "POST", "/oauth/token", data=GRANT, auth=(c.client_id, c.secret))
    assert r.status_code == 200 and served["calls"]["after"] == 1
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    r = same(served, "POST", "/oauth/token", data=GRANT, auth=(c.client_id, "wrong"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = same(served, "POST", "/oauth/token", json=GRANT, auth=(c.client_id, c.secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = same(served, "POST", "/oauth/token", data={**GRANT, "scope": "identity.admin"},
             auth=(c.client_id, c.secret))
    assert r.json()["error"] == "invalid_scope"
    # Not named by the table: the router answers both.
    r = same(served, "GET", "/oauth/token")
    assert r.status_code == 405 and served["calls"]["after"] == 0
    # An exception the app's handlers turn into a problem: the client is blocked (429).
    for _ in range(container.settings.security.brute_force.client_max_failures):
        container.guard.register_client_failure(c.client_id)
    r = same(served, "POST", "/oauth/token", data=GRANT, auth=(c.client_id, c.secret))
    assert r.status_code == 429 and r.json()["code"] == "client_blocked"
    assert served["calls"]["after"] == 1


def test_a_streamed_body_over_the_limit_is_413_on_both(served, container,
                                                       make_client) -> None:
    c = make_client()
    limit = container.settings.security.max_body_bytes

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused while it streams
        yield b"grant_type=client_credentials&pad="
        yield b"x" * (limit + 1)

    a = served["direct"].post("/oauth/token", content=chunks(), auth=(c.client_id, c.secret),
                              headers={"content-type": "application/x-www-form-urlencoded"})
    b = served["routed"].post("/oauth/token", content=chunks(), auth=(c.client_id, c.secret),
                              headers={"content-type": "application/x-www-form-urlencoded"})
    assert a.status_code == b.status_code == 413
    assert _body(a) == _body(b) and a.json()["code"] == "payload_too_large"


def test_me_and_bearer_refusals_match(served, container, make_client) -> None:
    c = make_client()
    token = served["routed"].post("/oauth/token", data=GRANT,
                                  auth=(c.client_id, c.secret)).json()["access_token"]
    r = same(served, "GET", "/v1/me", headers=bearer(token))
    assert r.status_code == 200 and served["calls"]["after"] == 1
    assert r.json() == {"client_id": c.client_id, "tenant": "demo",
                        "tenant_id": r.json()["tenant_id"],
                        "scopes": ["identity.read_status", "identity.verify"]}
    assert "ratelimit-policy" in r.headers
    for headers in ({}, {"authorization": f"Basic {token}"}, {"authorization": "Bearer "},
                    bearer("not.a.token"), bearer(token[:-4] + "AAAA")):
        r = same(served, "GET", "/v1/me", headers=headers)
        assert r.status_code == 401 and "www-authenticate" in r.headers
    r = same(served, "POST", "/v1/me", headers=bearer(token))
    assert r.status_code == 405 and served["calls"]["after"] == 0
    served["routed"].post("/oauth/revoke", data={"token": token},
                          auth=(c.client_id, c.secret))
    r = same(served, "GET", "/v1/me", headers=bearer(token))
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"
    fresh = served["routed"].post("/oauth/token", data=GRANT,
                                  auth=(c.client_id, c.secret)).json()["access_token"]
    container.clients.disable(c.client_id)
    r = same(served, "GET", "/v1/me", headers=bearer(fresh))
    assert r.status_code == 401


def test_client_rate_limit_and_ip_allowlist_match(served, container, make_client) -> None:
    c = make_client()
    container.clients.set_rate_limits(c.client_id, {"api": "4/minute"})
    token = served["routed"].post("/oauth/token", data=GRANT,
                                  auth=(c.client_id, c.secret)).json()["access_token"]
    same(served, "GET", "/v1/me", headers=bearer(token))  # 2 of 4 counted
    same(served, "GET", "/v1/me", headers=bearer(token))  # 4 of 4
    r = same(served, "GET", "/v1/me", headers=bearer(token))
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    walled = make_client(allowed_ips=["198.51.100.0/24"])
    token = served["direct"].post("/oauth/token", data=GRANT,
                                  auth=(walled.client_id, walled.secret))
    assert token.status_code == 401  # not from this address: no token either
    same(served, "POST", "/oauth/token", data=GRANT, auth=(walled.client_id, walled.secret))

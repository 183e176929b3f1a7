"""Health, readiness, OpenAPI, problem+json, security headers, request ids, body limits."""

from __future__ import annotations

from sqlalchemy import select

from idproof.auth.models import Client
from idproof.core.errors import NotFound
from idproof.db.tenancy import get_owned, scoped


def test_health_and_ready(api) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready"}


def test_not_ready_when_database_gone(api, container) -> None:
    container.db.ping = lambda: False  # type: ignore[method-assign]
    r = api.get("/readyz")
    assert r.status_code == 503 and r.json()["code"] == "database_unavailable"


def test_openapi_documents_every_endpoint(api) -> None:
    spec = api.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect", "/.well-known/jwks.json",
                 "/.well-known/oauth-authorization-server", "/v1/me", "/healthz", "/readyz"):
        assert path in paths, path
    token_op = paths["/oauth/token"]["post"]
    assert "application/x-www-form-urlencoded" in token_op["requestBody"]["content"]
    assert spec["components"]["securitySchemes"]["OAuth2"]["type"] == "oauth2"


def test_security_headers_and_request_id(api) -> None:
    r = api.get("/healthz", headers={"x-request-id": "abc-12345678"})
    assert r.headers["x-request-id"] == "abc-12345678"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in r.headers  # plain HTTP
    r = api.get("/healthz", headers={"x-request-id": "bad id with spaces <script>"})
    assert r.headers["x-request-id"].startswith("req_")
    r = api.get("https://testserver/healthz")
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_unknown_route_is_problem_json(api) -> None:
    r = api.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "not_found" and body["status"] == 404 and "request_id" in body


def test_method_not_allowed_problem(api) -> None:
    r = api.delete("/oauth/token")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


def test_internal_error_hides_details(api) -> None:
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals idpsk_abcdefghijkl")

    api.app.include_router(router)
    r = api.get("/boom")
    assert r.status_code == 500
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert r.json()["code"] == "internal_error"


def test_body_limit_without_content_length(api) -> None:
    def gen():
        for _ in range(40):
            yield b"x" * 65536

    r = api.post("/oauth/token", content=gen(),
                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


def test_metrics_have_no_identifiers(api, make_client, container) -> None:
    from pydantic import SecretStr

    container.settings.metrics.token = SecretStr("t" * 32)
    c = make_client()
    api.post("/oauth/token", data={"grant_type": "client_credentials"},
             auth=(c.client_id, c.secret))
    text = api.get("/metrics", headers={"authorization": "Bearer " + "t" * 32}).text
    assert "idproof_http_requests_total" in text
    assert c.client_id not in text


def test_tenant_scoping_helper(container, make_client) -> None:
    mine = make_client()
    theirs = make_client(tenant="acme")
    demo = container.tenants.get("demo")
    with container.db.session() as s:
        assert get_owned(s, Client, mine.client_id, demo.id).id == mine.client_id
        try:
            get_owned(s, Client, theirs.client_id, demo.id)
            raise AssertionError("foreign object was returned")
        except NotFound as exc:
            assert exc.status == 404
        ids = {c.id for c in s.scalars(scoped(Client, demo.id))}
        assert mine.client_id in ids and theirs.client_id not in ids
        assert s.scalar(select(Client).where(Client.id == theirs.client_id)) is not None

"""The OpenAPI document (OAuth2 scopes, problem+json errors, webhooks) and offline docs pages."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends

from idproof.auth.http import require_scopes
from idproof.auth.scopes import KNOWN_SCOPES
from idproof.web.openapi import DOCS_CSP, build_openapi
from idproof.webhooks.schemas import EVENT_TYPES

PROBLEM_REF = "#/components/schemas/Problem"
METHODS = {"get", "post", "put", "patch", "delete"}


def _operations(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method in METHODS:
                yield path, method, op


def _undocumented(spec) -> list[str]:
    """Every operation's error answers, by the rules the API follows."""
    bad = []
    for path, method, op in _operations(spec):
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        errors = {k: v for k, v in responses.items() if k[0] in "45"}
        if not errors:
            bad.append(f"{where}: no error response")
        for status, resp in errors.items():
            content = resp.get("content", {})
            ref = (content.get("application/problem+json", {}).get("schema", {}).get("$ref")
                   or content.get("application/json", {}).get("schema", {}).get("$ref"))
            if ref not in {PROBLEM_REF, "#/components/schemas/OAuthError"}:
                bad.append(f"{where} {status}: no problem schema")
            if not resp.get("description"):
                bad.append(f"{where} {status}: no description")
        if op.get("security"):
            bad += [f"{where}: no {s}" for s in ("401", "403", "429") if s not in responses]
        params = op.get("parameters", [])
        if (params or "requestBody" in op) and "422" not in responses:
            bad.append(f"{where}: no 422")
        if "requestBody" in op and "413" not in responses:
            bad.append(f"{where}: no 413")
        if any(p["in"] == "path" for p in params) and "404" not in responses:
            bad.append(f"{where}: no 404")
    return bad


def test_security_scheme_is_oauth2_client_credentials_with_every_scope(api) -> None:
    spec = api.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert list(schemes) == ["OAuth2"]
    flow = schemes["OAuth2"]["flows"]["clientCredentials"]
    assert schemes["OAuth2"]["type"] == "oauth2"
    assert flow["tokenUrl"] == "/oauth/token"
    assert set(flow["scopes"]) == set(KNOWN_SCOPES)
    assert all(flow["scopes"].values())


def test_every_protected_operation_lists_its_scope(api) -> None:
    spec = api.get("/openapi.json").json()
    ops = {(m, p): op for p, m, op in _operations(spec)}
    assert ops[("post", "/v1/sessions")]["security"] == [{"OAuth2": ["identity.verify"]}]
    assert ops[("get", "/v1/sessions/{session_id}")]["security"] == [
        {"OAuth2": ["identity.read_status"]}]
    assert ops[("get", "/v1/sessions/{session_id}/data")]["security"] == [
        {"OAuth2": ["identity.read_pii"]}]
    assert ops[("post", "/v1/webhooks")]["security"] == [{"OAuth2": ["webhooks.manage"]}]
    assert ops[("get", "/v1/audit/events")]["security"] == [{"OAuth2": ["audit.read"]}]
    assert ops[("post", "/v1/vault/detokenize")]["security"] == [
        {"OAuth2": ["vault.detokenize"]}]
    assert ops[("get", "/v1/me")]["security"] == [{"OAuth2": []}]  # any valid token
    for (_m, path), op in ops.items():
        if not path.startswith("/v1/"):  # OAuth, discovery and health: no bearer token
            assert "security" not in op, path
        for req in op.get("security", []):
            assert set(req) == {"OAuth2"} and set(req["OAuth2"]) <= KNOWN_SCOPES


def test_every_operation_documents_its_errors_as_problems(api) -> None:
    spec = api.get("/openapi.json").json()
    assert _undocumented(spec) == []
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code", "instance"} <= set(
        problem["properties"])
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    submit = spec["paths"]["/v1/sessions/{session_id}/submit"]["post"]["responses"]
    assert "steps_missing" in submit["409"]["description"]
    upload = spec["paths"]["/v1/sessions/{session_id}/documents"]["post"]["responses"]
    assert {"401", "403", "404", "409", "413", "415", "422", "429"} <= set(upload)


def test_a_route_without_documented_errors_is_caught(api) -> None:
    """The walk above fails for a route the generic rules cannot cover (a new one)."""
    router = APIRouter()

    @router.post("/v1/things/{thing_id}")
    def thing(thing_id: str, _p=Depends(require_scopes("identity.verify"))) -> dict:
        return {}

    api.app.include_router(router)
    spec = build_openapi(api.app)
    op = spec["paths"]["/v1/things/{thing_id}"]["post"]
    assert op["security"] == [{"OAuth2": ["identity.verify"]}]
    assert _undocumented(spec) == []  # the rules documented it
    del op["responses"]["404"]
    assert _undocumented(spec) == ["POST /v1/things/{thing_id}: no 404"]
    op["responses"] = {"200": {"description": "ok"}}
    assert "POST /v1/things/{thing_id}: no error response" in _undocumented(spec)


def test_webhooks_section_has_every_event_with_its_payload(api) -> None:
    spec = api.get("/openapi.json").json()
    hooks = spec["webhooks"]
    assert set(hooks) == {*EVENT_TYPES, "webhook.test"}
    schemas = spec["components"]["schemas"]
    for event, item in hooks.items():
        ref = item["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = schemas[ref.rsplit("/", 1)[1]]
        assert body["properties"]["type"]["const"] == event
        assert {"type", "timestamp", "data"} <= set(body["required"])
    decided = hooks["session.decided"]["post"]["requestBody"]["content"]["application/json"]
    body = schemas[decided["schema"]["$ref"].rsplit("/", 1)[1]]
    data = schemas[body["properties"]["data"]["$ref"].rsplit("/", 1)[1]]
    decision = schemas[data["properties"]["decision"]["$ref"].rsplit("/", 1)[1]]
    assert {"is_verified", "reasons", "decided_at"} <= set(decision["properties"])
    assert "id" not in decision["properties"]


def _same_origin_assets(html: str) -> list[str]:
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
    return refs


def test_docs_and_redoc_use_vendored_same_origin_assets(api) -> None:
    for page, marker in (("/docs", 'id="swagger-ui"'), ("/redoc", "<redoc spec-url")):
        r = api.get(page)
        assert r.status_code == 200 and marker in r.text
        assert r.headers["content-security-policy"] == DOCS_CSP
        assert "<script>" not in r.text  # no inline script
        assert "cdn" not in r.text.lower()
        for ref in _same_origin_assets(r.text):
            a = api.get(ref)
            assert a.status_code == 200 and len(a.content) > 0, ref
    assert b"SwaggerUIBundle" in api.get("/docs/assets/swagger-ui-bundle.js").content
    assert api.get("/docs/assets/nope.js").status_code == 404
    assert api.get("/docs/assets/..%2Fcore.py").status_code == 404


def test_other_pages_keep_the_strict_csp(api) -> None:
    csp = api.get("/healthz").headers["content-security-policy"]
    assert "unsafe-inline" not in csp

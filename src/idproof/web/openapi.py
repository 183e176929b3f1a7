"""The OpenAPI document (OAuth2 scopes, problem+json errors, webhooks) and offline /docs, /redoc."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from markupsafe import escape
from pydantic import BaseModel, ConfigDict, Field, create_model

from idproof.auth.http import current_principal
from idproof.auth.scopes import KNOWN_SCOPES
from idproof.screening.api import ScreeningMatchData
from idproof.verification.schemas import DecisionView
from idproof.webhooks.schemas import EVENT_TYPES, TEST_EVENT

SCHEME = "OAuth2"
TOKEN_URL = "/oauth/token"  # noqa: S105 - a path, not a secret
PROBLEM = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
OAUTH_ERROR_REF = {"$ref": "#/components/schemas/OAuthError"}

SCOPE_DESCRIPTIONS: dict[str, str] = {
    "identity.verify": "Create verification sessions, upload captures and submit them",
    "identity.read_status": "Read sessions, their steps and decisions (no personal data)",
    "identity.read_pii": "Read a session's extracted personal data (audited, with a purpose)",
    "identity.delete": "Erase a session and its data",
    "identity.review": "Decide sessions in review (approve, decline, ask for a resubmit)",
    "analytics.read": "Read aggregate figures (volumes, funnel, reasons, times to decision)",
    "vault.detokenize": "Turn a vault token back into its value (audited, rate-limited)",
    "webhooks.manage": "Register, rotate, test and inspect webhook endpoints",
    "workflows.manage": "Manage verification workflows",
    "audit.read": "Read the audit log, its checkpoints and proofs",
    "privacy.manage": "Export or erase everything held about a subject (audited)",
    "branding.manage": "Set the tenant's name, colours, logo and links on the hosted pages",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details (`application/problem+json`). `code` is stable "
                   "and machine-readable; some problems add members of their own (`errors` "
                   "for validation, `incomplete_steps`, `reason`, ...).",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri",
                 "examples": ["https://idproof.dev/problems/session_not_found"]},
        "title": {"type": "string", "examples": ["Not found"]},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "For a developer; never personal data"},
        "code": {"type": "string", "examples": ["session_not_found"]},
        "instance": {"type": "string", "format": "uri-reference"},
        "request_id": {"type": "string", "description": "The X-Request-Id of the request"},
        "errors": {"type": "array", "description": "validation_failed: where and why",
                   "items": {"type": "object", "properties": {
                       "loc": {"type": "array", "items": {"type": "string"}},
                       "type": {"type": "string"}, "msg": {"type": "string"}}}},
    },
    "additionalProperties": True,
}
OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "title": "OAuthError",
    "type": "object",
    "description": "RFC 6749 §5.2 error response of the OAuth endpoints.",
    "required": ["error"],
    "properties": {"error": {"type": "string", "examples": ["invalid_client"]},
                   "error_description": {"type": "string"}},
}

# The generic answers every route may give, by status; route-specific codes (409, 410,
# 415, ...) come from the route's own `responses`.
_AUTH = {
    401: "missing_token, invalid_token: no valid bearer token (`WWW-Authenticate` says why)",
    403: "insufficient_scope: the token lacks the scope; ip_not_allowed: the client may not "
         "call from this address",
    429: "too_many_invalid_tokens, ip_blocked: too many failures (see `Retry-After`)",
}
_STATUS_TEXT = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                409: "conflict", 410: "gone", 413: "payload_too_large",
                415: "unsupported_media_type", 422: "validation_failed",
                429: "rate_limited", 500: "internal_error: an unexpected error (no details)",
                503: "unavailable"}


# -- webhook payloads ---------------------------------------------------------------------------
WebhookDecision = create_model(  # the decision view without the session's id and status
    "WebhookDecision", __doc__="The session's decision, as GET /v1/sessions/{id}/decision.",
    **{name: (f.annotation, f) for name, f in DecisionView.model_fields.items()
       if name not in {"id", "status"}})  # type: ignore[call-overload]


class SessionEventData(BaseModel):
    """Ids, status and reason codes of the session: never personal data."""

    session_id: str = Field(examples=["ses_01JD4W9N1Q"])
    status: str = Field(description="The session's status after the event")
    workflow: str
    reference: str | None = Field(description="Your own opaque id from session creation")


class SessionDecidedData(SessionEventData):
    decision: WebhookDecision


class WebhookReview(BaseModel):
    decision: str = Field(description="approved, declined or resubmit")
    reasons: list[str] = Field(description="Reason codes from the review catalogue")
    steps: list[str] | None = Field(description="For resubmit: the steps to redo")
    reviewer_type: str = Field(description="operator (the console) or client (the API)")


class SessionReviewedData(SessionEventData):
    review: WebhookReview


class SubjectErasedData(BaseModel):
    reference: str = Field(description="Your own opaque id of the subject")
    receipt_id: str = Field(description="The erasure receipt returned to the caller")
    sessions: list[str] = Field(description="The ids of the sessions erased")
    erased_at: str


class TestEventData(BaseModel):
    endpoint_id: str


class EventData(BaseModel):
    """Ids, statuses and codes (never personal data); see the event's documentation."""

    model_config = ConfigDict(extra="allow")


def _envelope(name: str, event: str, data: type[BaseModel]) -> type[BaseModel]:
    return create_model(
        name, __doc__=f"The body of a `{event}` request (Standard Webhooks).",
        type=(str, Field(json_schema_extra={"const": event})),
        timestamp=(str, Field(description="When the event happened (RFC 3339, UTC)")),
        data=(data, ...))


WEBHOOK_EVENTS: dict[str, tuple[str, type[BaseModel]]] = {
    "session.created": ("`POST /v1/sessions` created a session", SessionEventData),
    "session.started": ("The person began (status `in_progress`)", SessionEventData),
    "session.submitted": ("The session was submitted for the decision", SessionEventData),
    "session.decided": ("A decision was made (`approved`, `declined`, `in_review`)",
                        SessionDecidedData),
    "session.expired": ("The session's time ran out (status `expired` or `abandoned`)",
                        SessionEventData),
    "session.cancelled": ("The person cancelled the verification (status `cancelled`)",
                          SessionEventData),
    "session.erased": ("The session was erased (`DELETE /v1/sessions/{id}`)",
                       SessionEventData),
    "session.reviewed": ("A reviewer approved, declined or asked for a resubmit "
                         "(never the reviewer's note)", SessionReviewedData),
    "subject.erased": ("Every session of a subject was erased (`DELETE /v1/subjects/{reference}` "
                       "or `idproof privacy erase`)", SubjectErasedData),
    "screening.match": ("Ongoing monitoring or a screening step found a new list hit for "
                        "a session (no names)", ScreeningMatchData),
    TEST_EVENT: ("You asked for it with `POST /v1/webhooks/{id}/test`", TestEventData),
}


def _webhooks(schemas: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for event in (*EVENT_TYPES, TEST_EVENT):
        # An event type added without a payload model here is still listed, with an open body.
        summary, data = WEBHOOK_EVENTS.get(event, (f"`{event}`", EventData))
        name = "".join(p.capitalize() for p in re.split(r"[._]", event)) + "Event"
        model = _envelope(name, event, data)
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
        out[event] = {"post": {
            "summary": summary, "operationId": f"webhook_{event.replace('.', '_')}",
            "description": "Signed with the endpoint's secret (`webhook-id`, "
                           "`webhook-timestamp`, `webhook-signature` headers).",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{name}"}}}},
            "responses": {"2XX": {"description": "Received; anything else is retried"}}}}
    return out


# -- the operations' security and errors --------------------------------------------------------
def _dependants(dep: Dependant) -> Iterator[Dependant]:
    for sub in dep.dependencies:
        yield sub
        yield from _dependants(sub)


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """The API routes with their effective paths (newer FastAPI wraps included routers)."""
    iterate = getattr(routing, "iter_route_contexts", None)
    for route in (iterate(app.routes) if iterate is not None else app.routes):
        if (getattr(route, "dependant", None) is not None and getattr(route, "methods", None)
                and getattr(route, "include_in_schema", False)
                and getattr(route, "path_format", None)):
            yield route


def route_security(route: APIRoute) -> tuple[bool, tuple[str, ...]]:
    """(needs a bearer token, the scopes it needs), read from the route's dependencies."""
    protected = False
    scopes: list[str] = []
    for dep in _dependants(route.dependant):
        call: Callable[..., Any] | None = dep.call
        if call is current_principal:
            protected = True
        elif inspect.isfunction(call) and call.__name__ == "check":
            needed = inspect.getclosurevars(call).nonlocals.get("needed")
            if isinstance(needed, tuple):
                scopes.extend(needed)
    return protected, tuple(dict.fromkeys(scopes))


def _error(description: str, ref: dict[str, str], media: str = PROBLEM) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": ref}}}


def _document_errors(path: str, op: dict[str, Any], protected: bool) -> None:
    responses: dict[str, Any] = op.setdefault("responses", {})
    oauth = path.startswith("/oauth/")
    wanted: dict[int, str] = {}
    if protected:
        wanted.update(_AUTH)
    has_body = "requestBody" in op
    if op.get("parameters") or has_body:
        wanted[422] = "validation_failed: the request is not valid (see `errors`)"
    if has_body:
        wanted[413] = "payload_too_large: the body is over the limit"
    if any(p.get("in") == "path" for p in op.get("parameters", [])):
        wanted[404] = "not found, or another tenant's (never told apart)"
    if oauth:
        wanted[429] = "ip_blocked: too many failed client authentications (`Retry-After`)"
        wanted.setdefault(400, "invalid_request")
        wanted.setdefault(401, "invalid_client")
    wanted[500] = _STATUS_TEXT[500]
    for status in sorted({*wanted, *(int(k) for k in responses if k.isdigit())}):
        if status < 400:
            continue
        current = responses.get(str(status), {})
        described = current.get("description", "")
        if not described or described in {"Validation Error", "Successful Response"}:
            described = wanted.get(status, _STATUS_TEXT.get(status, "error"))
        elif status in wanted and status != 422 and wanted[status] not in described:
            described = f"{described}; {wanted[status]}" if status in _AUTH else described
        if oauth and status in {400, 401}:
            responses[str(status)] = _error(described, OAUTH_ERROR_REF, "application/json")
        else:
            responses[str(status)] = _error(described, PROBLEM_REF)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         openapi_version=app.openapi_version, routes=app.routes,
                         tags=app.openapi_tags, servers=app.servers)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["OAuthError"] = OAUTH_ERROR_SCHEMA
    components["securitySchemes"] = {SCHEME: {
        "type": "oauth2",
        "description": "OAuth2 client credentials: get a token at `POST /oauth/token` "
                       "(client_secret_basic, client_secret_post or private_key_jwt) and send "
                       "it as `Authorization: Bearer <token>`. A client gets only the scopes "
                       "it was granted.",
        "flows": {"clientCredentials": {"tokenUrl": TOKEN_URL, "scopes": {
            scope: SCOPE_DESCRIPTIONS.get(scope, scope) for scope in sorted(KNOWN_SCOPES)}}}}}
    security: dict[tuple[str, str], tuple[bool, tuple[str, ...]]] = {}
    for route in _api_routes(app):
        for method in route.methods:
            security[(route.path_format, method.lower())] = route_security(route)
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            protected, scopes = security.get((path, method), (False, ()))
            op.pop("security", None)
            if protected or scopes:
                op["security"] = [{SCHEME: list(scopes)}]
                if scopes:
                    note = f"Scope: `{' '.join(scopes)}`."
                    op["description"] = (f"{op['description']}\n\n{note}"
                                         if op.get("description") else note)
            _document_errors(path, op, protected or bool(scopes))
    schema["webhooks"] = _webhooks(schemas)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Replace `app.openapi` with the customised document (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# -- /docs and /redoc from vendored assets ------------------------------------------------------
# Swagger UI and ReDoc ship inside the fastapi-offline wheel: nothing is fetched from a CDN.
# The pages run no inline script; the CSP below is theirs only (the hosted flow's is stricter):
# both UIs set inline styles, ReDoc starts a worker from a blob.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
            "worker-src 'self' blob:; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'")
_VENDORED = {"swagger-ui-bundle.js": "application/javascript; charset=utf-8",
             "swagger-ui.css": "text/css; charset=utf-8",
             "redoc.standalone.js": "application/javascript; charset=utf-8",
             "favicon.png": "image/png"}
SWAGGER_INIT = """\
"use strict";
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi"), dom_id: "#swagger-ui", deepLinking: true,
    layout: "BaseLayout", validatorUrl: null, showExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
  });
});
"""


def _vendored_dir() -> Path:
    return Path(str(resources.files("fastapi_offline") / "static"))


def _page(title: str, body: str, head: str = "") -> str:
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(title)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n")


def install_docs(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc",
                 assets_url: str = "/docs/assets") -> None:
    headers = {"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"}

    def _root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(docs_url, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        spec = escape(f"{root}{app.openapi_url}")
        head = (f'<link rel="icon" href="{root}{assets_url}/favicon.png">\n'
                f'<link rel="stylesheet" href="{root}{assets_url}/swagger-ui.css">\n')
        body = (f'<div id="swagger-ui" data-openapi="{spec}"></div>\n'
                f'<script src="{root}{assets_url}/swagger-ui-bundle.js"></script>\n'
                f'<script src="{root}{assets_url}/swagger-init.js"></script>\n')
        return HTMLResponse(_page(f"{app.title} API", body, head), headers=headers)

    @app.get(redoc_url, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        spec = escape(f"{root}{app.openapi_url}")
        head = f'<link rel="icon" href="{root}{assets_url}/favicon.png">\n'
        # <redoc spec-url> starts ReDoc by itself: no inline script needed.
        body = (f'<redoc spec-url="{spec}"></redoc>\n'
                f'<script src="{root}{assets_url}/redoc.standalone.js"></script>\n')
        return HTMLResponse(_page(f"{app.title} API reference", body, head), headers=headers)

    @app.get(assets_url + "/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        cache = {"Cache-Control": "public, max-age=86400"}
        if name == "swagger-init.js":
            return Response(SWAGGER_INIT, media_type=_VENDORED["swagger-ui-bundle.js"],
                            headers=cache)
        if name not in _VENDORED:
            return Response(status_code=404)
        body = (_vendored_dir() / name).read_bytes()
        return Response(body, media_type=_VENDORED[name], headers=cache)

"""HTTP routes of the auth package: the OAuth2 endpoints, discovery, and `GET /v1/me`."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from idproof.audit.events import AuditEvent
from idproof.auth.http import (
    CurrentPrincipal,
    client_ip,
    current_principal,
    get_container,
    request_id,
)
from idproof.auth.mtls_discovery import MTLS_METADATA, MTLS_METHODS
from idproof.auth.mtls_request import certificate_for
from idproof.auth.oauth import OAuthError, OAuthRequest
from idproof.auth.scopes import KNOWN_SCOPES
from idproof.core.principal import Principal

oauth_router = APIRouter(prefix="/oauth", tags=["oauth"])
discovery_router = APIRouter(tags=["discovery"])
me_router = APIRouter(prefix="/v1", tags=["clients"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM = "application/x-www-form-urlencoded"


def _form_body(fields: dict[str, str], required: list[str]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {FORM: {"schema": {
        "type": "object", "required": required,
        "properties": {k: {"type": "string", "description": v} for k, v in fields.items()},
    }}}}}


_CLIENT_AUTH_FIELDS = {
    "client_id": "client_secret_post / private_key_jwt: the client id",
    "client_secret": "client_secret_post: the client secret",
    "client_assertion_type": "private_key_jwt: urn:ietf:params:oauth:client-assertion-type:"
                             "jwt-bearer",
    "client_assertion": "private_key_jwt: a JWT signed with the client's registered key",
}


def _oauth_error(request: Request, endpoint: str, err: OAuthError) -> JSONResponse:
    if not err.audited:
        get_container(request).audit.record(AuditEvent(
            action=f"oauth.{endpoint}_refused", outcome="failure", ip=client_ip(request),
            request_id=request_id(request), details={"reason": err.error}))
    return JSONResponse(err.body(), status_code=err.status, headers={**_NO_STORE, **err.headers})


async def _oauth_request(request: Request) -> OAuthRequest:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != FORM:
        raise OAuthError("invalid_request", f"the body must be {FORM}")
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                          max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the form body is malformed") from None
    container = get_container(request)
    cert = certificate_for(request, container.settings, container.audit)
    return OAuthRequest(form=pairs, authorization=request.headers.get("authorization"),
                        ip=client_ip(request), request_id=request_id(request),
                        client_cert=cert)


@oauth_router.post(
    "/token", summary="Get an access token (client credentials grant)",
    description="RFC 6749 §4.4. Authenticate with client_secret_basic, client_secret_post or "
                "private_key_jwt (RFC 7523). Errors follow RFC 6749 §5.2.",
    openapi_extra=_form_body({"grant_type": "client_credentials",
                              "scope": "optional: a subset of the client's scopes",
                              **_CLIENT_AUTH_FIELDS}, ["grant_type"]),
    responses={400: {"description": "invalid_request, unsupported_grant_type, invalid_scope"},
               401: {"description": "invalid_client"}, 429: {"description": "IP blocked"}},
)
async def token(request: Request) -> Response:
    return await token_response(request)


async def token_response(request: Request) -> Response:
    """`POST /oauth/token`: the route's body (the edge also serves it directly)."""
    container = get_container(request)
    service = container.oauth
    try:
        req = await _oauth_request(request)
        # The usual grant (cached client and secret) is served on the event loop; anything
        # else, every refusal included, by the full use case in a thread.
        body = (await service.token_cached(req)
                if container.settings.auth.grant_on_event_loop else None)
        if body is None:
            body = await run_in_threadpool(service.token, req)
    except OAuthError as err:
        return await run_in_threadpool(_oauth_error, request, "token", err)
    return JSONResponse(body, headers=_NO_STORE)


@oauth_router.post(
    "/revoke", summary="Revoke an access token (RFC 7009)",
    openapi_extra=_form_body({"token": "the access token", "token_type_hint": "optional",
                              **_CLIENT_AUTH_FIELDS}, ["token"]),
)
async def revoke(request: Request) -> Response:
    service = get_container(request).oauth
    try:
        req = await _oauth_request(request)
        await run_in_threadpool(service.revoke, req)
    except OAuthError as err:
        return await run_in_threadpool(_oauth_error, request, "revoke", err)
    return JSONResponse({}, headers=_NO_STORE)


@oauth_router.post(
    "/introspect", summary="Introspect an access token (RFC 7662)",
    description="The caller authenticates as a client; tokens of another tenant, expired, "
                "revoked or invalid tokens answer {\"active\": false}.",
    openapi_extra=_form_body({"token": "the access token", "token_type_hint": "optional",
                              **_CLIENT_AUTH_FIELDS}, ["token"]),
)
async def introspect(request: Request) -> Response:
    service = get_container(request).oauth
    try:
        req = await _oauth_request(request)
        body = await run_in_threadpool(service.introspect, req)
    except OAuthError as err:
        return await run_in_threadpool(_oauth_error, request, "introspect", err)
    return JSONResponse(body, headers=_NO_STORE)


@discovery_router.get("/.well-known/jwks.json", summary="Public keys that sign access tokens")
def jwks(request: Request) -> JSONResponse:
    ks = get_container(request).keys.keyset()
    return JSONResponse(ks.jwks(), headers={"Cache-Control": "public, max-age=300"})


@discovery_router.get("/.well-known/oauth-authorization-server",
                      summary="Authorization server metadata (RFC 8414)")
def metadata(request: Request) -> dict[str, Any]:
    s = get_container(request).settings
    return {
        "issuer": s.issuer,
        "token_endpoint": s.token_endpoint,
        "jwks_uri": f"{s.public_url}/.well-known/jwks.json",
        "revocation_endpoint": f"{s.public_url}/oauth/revoke",
        "introspection_endpoint": f"{s.public_url}/oauth/introspect",
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "scopes_supported": sorted(KNOWN_SCOPES),
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt", *MTLS_METHODS],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256", "PS256",
                                                             "RS256"],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt", *MTLS_METHODS],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt", *MTLS_METHODS],
        "service_documentation": f"{s.public_url}/docs",
        **MTLS_METADATA,
    }


class MeResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str
    tenant: str
    tenant_id: str
    scopes: list[str]


@me_router.get("/me", summary="Who am I: the calling client, its tenant and token scopes")
async def me(principal: CurrentPrincipal) -> MeResponse:
    return me_of(principal)


def me_of(principal: Principal) -> MeResponse:
    return MeResponse(client_id=principal.client_id, tenant=principal.tenant_name,
                      tenant_id=principal.tenant_id, scopes=sorted(principal.scopes))


async def me_response(request: Request) -> Response:
    """`GET /v1/me` as the edge serves it directly: the route's dependency and body."""
    body = me_of(await current_principal(request)).model_dump_json()
    return Response(body, media_type="application/json")


# The routes the edge answers without the router (`web/edge_direct.py`): the OAuth hot path.
DIRECT_ROUTES = {("POST", "/oauth/token"): token_response, ("GET", "/v1/me"): me_response}

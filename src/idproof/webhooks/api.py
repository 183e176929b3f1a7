"""HTTP routes of webhooks (`/v1/webhooks`, `/v1/webhook-deliveries`), scope webhooks.manage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, get_container, request_id, require_scopes
from idproof.core.principal import Principal
from idproof.webhooks.schemas import (
    CreatedEndpoint,
    CreateEndpoint,
    DeliveryList,
    DeliveryView,
    EndpointList,
    EndpointView,
    RotatedSecret,
)
from idproof.webhooks.service import Caller

if TYPE_CHECKING:
    from idproof.webhooks.service import WebhookService

router = APIRouter(prefix="/v1", tags=["webhooks"])
Manage = Annotated[Principal, Depends(require_scopes("webhooks.manage"))]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such endpoint in your tenant (code webhook_endpoint_not_found)"}}


def _svc(request: Request) -> WebhookService:
    return get_container(request).webhooks


def _caller(request: Request, p: Principal) -> Caller:
    return Caller(tenant_id=p.tenant_id, client_id=p.client_id, ip=client_ip(request),
                  request_id=request_id(request))


@router.post("/webhooks", status_code=201, response_model=CreatedEndpoint,
             responses={422: {"description": "webhook_url_not_allowed: not https, or the host "
                                             "resolves to a private, loopback, link-local, "
                                             "CGNAT, multicast, reserved or metadata address"},
                        409: {"description": "too_many_webhook_endpoints"}},
             summary="Register a webhook endpoint",
             description="Returns the `whsec_` signing secret once. Deliveries follow the "
                         "Standard Webhooks specification (`webhook-id`, `webhook-timestamp`, "
                         "`webhook-signature`).")
async def create_endpoint(request: Request, body: CreateEndpoint,
                          principal: Manage) -> CreatedEndpoint:
    # In the thread pool: the SSRF guard resolves the host name (a blocking lookup).
    return await run_in_threadpool(_svc(request).create_endpoint,
                                   _caller(request, principal), body)


@router.get("/webhooks", response_model=EndpointList, summary="List webhook endpoints")
def list_endpoints(request: Request, principal: Manage) -> EndpointList:
    return EndpointList(data=_svc(request).list_endpoints(principal.tenant_id))


@router.get("/webhooks/{endpoint_id}", response_model=EndpointView, responses=_NOT_FOUND,
            summary="A webhook endpoint (never its secret)")
def get_endpoint(request: Request, endpoint_id: str, principal: Manage) -> EndpointView:
    return _svc(request).get_endpoint(principal.tenant_id, endpoint_id)


@router.delete("/webhooks/{endpoint_id}", status_code=204, responses=_NOT_FOUND,
               summary="Delete a webhook endpoint; its pending deliveries are cancelled")
def delete_endpoint(request: Request, endpoint_id: str, principal: Manage) -> Response:
    _svc(request).delete_endpoint(_caller(request, principal), endpoint_id)
    return Response(status_code=204)


@router.post("/webhooks/{endpoint_id}/rotate-secret", response_model=RotatedSecret,
             responses=_NOT_FOUND, summary="Rotate the signing secret",
             description="Returns the new secret once. Until `previous_secret_expires_at` "
                         "each delivery carries two signatures (new and old), "
                         "space-separated, so receivers can switch without losing any.")
def rotate_secret(request: Request, endpoint_id: str, principal: Manage) -> RotatedSecret:
    return _svc(request).rotate_secret(_caller(request, principal), endpoint_id)


@router.get("/webhooks/{endpoint_id}/deliveries", response_model=DeliveryList,
            responses=_NOT_FOUND, summary="Recent deliveries to this endpoint, with attempts")
def list_deliveries(
    request: Request, endpoint_id: str, principal: Manage,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryList:
    return DeliveryList(data=_svc(request).list_deliveries(
        principal.tenant_id, endpoint_id, status=status, limit=limit))


@router.post("/webhooks/{endpoint_id}/test", status_code=202, response_model=DeliveryView,
             responses=_NOT_FOUND, summary="Send a `webhook.test` event to this endpoint")
def send_test(request: Request, endpoint_id: str, principal: Manage) -> DeliveryView:
    return _svc(request).send_test(_caller(request, principal), endpoint_id)


@router.get("/webhook-deliveries/{delivery_id}", response_model=DeliveryView,
            responses={404: {"description": "webhook_delivery_not_found"}},
            summary="One delivery, with its attempts")
def get_delivery(request: Request, delivery_id: str, principal: Manage) -> DeliveryView:
    return _svc(request).get_delivery(principal.tenant_id, delivery_id)


@router.post("/webhook-deliveries/{delivery_id}/retry", status_code=202,
             response_model=DeliveryView,
             responses={404: {"description": "webhook_delivery_not_found"},
                        409: {"description": "webhook_delivery_pending"}},
             summary="Send a failed delivery once more (same webhook-id)")
def retry_delivery(request: Request, delivery_id: str, principal: Manage) -> DeliveryView:
    return _svc(request).retry(_caller(request, principal), delivery_id)

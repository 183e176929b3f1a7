"""Console pages for webhook endpoints: list, create, rotate, test, deliveries, retry."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from idproof.auth.models import Tenant
from idproof.console.forms import Empty, EndpointForm, failure_text, parse_form
from idproof.console.web import chosen_tenant, page, role_may
from idproof.core.errors import IdproofError
from idproof.operators.policy import Action
from idproof.operators.router import ConsoleExit, _who, message, route
from idproof.operators.sessions import Live
from idproof.webhooks.schemas import SUBSCRIBABLE, CreateEndpoint
from idproof.webhooks.service import Caller

MANAGE = Action.WEBHOOKS_MANAGE
DELIVERIES = Action.DELIVERIES_READ
_STATUSES = ("", "pending", "delivered", "failed", "cancelled")
_TEXTS = {"webhook_url_not_allowed": "This URL is not allowed: use a public https address.",
          "too_many_webhook_endpoints": "This tenant has the most endpoints allowed.",
          "webhook_delivery_pending": "This delivery is still being attempted.",
          "invalid_status": "Unknown delivery status."}


def _caller(request: Request, live: Live, tenant: Tenant) -> Caller:
    # The webhook service names its actor a client id; an operator's id (opr_...) is as
    # unambiguous, and the console records the operator in every event it causes.
    who = _who(request)
    return Caller(tenant_id=tenant.id, client_id=live.operator_id, ip=who.ip,
                  request_id=who.request_id, actor_type="operator")


def _page(request: Request, live: Live, tenant: str, *, status: int = 200,
          **ctx: Any) -> HTMLResponse:
    chosen, tenants = chosen_tenant(request, live, tenant)
    endpoints = request.app.state.container.webhooks.list_endpoints(chosen.id)
    return page(request, live, "webhooks.html", status=status, tenant=chosen,
                tenants=tenants, endpoints=endpoints, event_types=SUBSCRIBABLE, **ctx)


def _failed(request: Request, live: Live, tenant: str, exc: IdproofError) -> HTMLResponse:
    text = failure_text(exc, _TEXTS)
    return _page(request, live, tenant, status=exc.status, error=text)


def _gone(what: str = "webhook endpoint") -> ConsoleExit:
    return ConsoleExit(message("Not found", f"There is no such {what}.", status=404,
                               link="/console/webhooks", link_text="Webhooks"))


@route("GET", "/console/webhooks", MANAGE)
def webhooks_list(request: Request, live: Annotated[Live, Depends(role_may(MANAGE))],
                  tenant: str = "") -> Response:
    return _page(request, live, tenant[:64])


@route("POST", "/console/webhooks", MANAGE)
async def webhooks_create(request: Request, live: Annotated[Live, Depends(role_may(MANAGE))],
                          tenant: str = "") -> Response:
    chosen, _ = chosen_tenant(request, live, tenant[:64])
    try:
        body = parse_form(EndpointForm, await request.form())
        created = request.app.state.container.webhooks.create_endpoint(
            _caller(request, live, chosen),
            CreateEndpoint.model_validate({"url": body.url, "event_types": body.event_types,
                                           "description": body.description or None}))
    except IdproofError as exc:
        return _failed(request, live, chosen.name, exc)
    return _page(request, live, chosen.name, status=201, secret=created.secret,
                 secret_for=created.id,
                 notice="Endpoint created. Copy its signing secret now: it is not shown again.")


async def _endpoint_action(request: Request, live: Live, endpoint_id: str, tenant: str,
                           act: str) -> Response:
    chosen, _ = chosen_tenant(request, live, tenant[:64])
    svc = request.app.state.container.webhooks
    try:
        parse_form(Empty, await request.form())
        if act == "rotate":
            out = svc.rotate_secret(_caller(request, live, chosen), endpoint_id[:40])
            return _page(request, live, chosen.name, secret=out.secret, secret_for=out.id,
                         notice="New signing secret issued (the previous one signs too "
                                "during the grace period). Copy it now: it is not shown again.")
        if act == "test":
            svc.send_test(_caller(request, live, chosen), endpoint_id[:40])
            return _page(request, live, chosen.name, notice="A webhook.test event is queued.")
        svc.delete_endpoint(_caller(request, live, chosen), endpoint_id[:40])
        return _page(request, live, chosen.name, notice="The endpoint is deleted.")
    except IdproofError as exc:
        if exc.status == 404:
            raise _gone() from None
        return _failed(request, live, chosen.name, exc)


@route("POST", "/console/webhooks/{endpoint_id}/rotate", MANAGE)
async def webhooks_rotate(request: Request, endpoint_id: str,
                          live: Annotated[Live, Depends(role_may(MANAGE))],
                          tenant: str = "") -> Response:
    return await _endpoint_action(request, live, endpoint_id, tenant, "rotate")


@route("POST", "/console/webhooks/{endpoint_id}/test", MANAGE)
async def webhooks_test(request: Request, endpoint_id: str,
                        live: Annotated[Live, Depends(role_may(MANAGE))],
                        tenant: str = "") -> Response:
    return await _endpoint_action(request, live, endpoint_id, tenant, "test")


@route("POST", "/console/webhooks/{endpoint_id}/delete", MANAGE)
async def webhooks_delete(request: Request, endpoint_id: str,
                          live: Annotated[Live, Depends(role_may(MANAGE))],
                          tenant: str = "") -> Response:
    return await _endpoint_action(request, live, endpoint_id, tenant, "delete")


def _deliveries_page(request: Request, live: Live, endpoint_id: str, tenant: str,
                     status_filter: str, *, status: int = 200, **ctx: Any) -> HTMLResponse:
    chosen, tenants = chosen_tenant(request, live, tenant[:64])
    svc = request.app.state.container.webhooks
    if status_filter not in _STATUSES:
        status, status_filter = 422, ""
        ctx["error"] = _TEXTS["invalid_status"]
    try:
        endpoint = svc.get_endpoint(chosen.id, endpoint_id[:40])
        rows = svc.list_deliveries(chosen.id, endpoint.id, status=status_filter or None,
                                   limit=100)
    except IdproofError:
        raise _gone() from None
    return page(request, live, "webhook_deliveries.html", status=status, tenant=chosen,
                tenants=tenants, endpoint=endpoint, deliveries=rows,
                status_filter=status_filter, statuses=_STATUSES[1:], **ctx)


@route("GET", "/console/webhooks/{endpoint_id}/deliveries", DELIVERIES)
def webhooks_deliveries(request: Request, endpoint_id: str,
                        live: Annotated[Live, Depends(role_may(DELIVERIES))],
                        tenant: str = "", status: str = "") -> Response:
    return _deliveries_page(request, live, endpoint_id, tenant, status[:16])


@route("POST", "/console/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry", MANAGE)
async def webhooks_retry(request: Request, endpoint_id: str, delivery_id: str,
                         live: Annotated[Live, Depends(role_may(MANAGE))],
                         tenant: str = "") -> Response:
    chosen, _ = chosen_tenant(request, live, tenant[:64])
    svc = request.app.state.container.webhooks
    try:
        parse_form(Empty, await request.form())
        found = svc.get_delivery(chosen.id, delivery_id[:40])
        if found.endpoint_id != endpoint_id:
            raise _gone("delivery")
        svc.retry(_caller(request, live, chosen), found.id)
    except IdproofError as exc:
        if exc.status == 404:
            raise _gone("delivery") from None
        return _deliveries_page(request, live, endpoint_id, chosen.name, "",
                                status=exc.status, error=_TEXTS.get(exc.code, "Not retried."))
    return _deliveries_page(request, live, endpoint_id, chosen.name, "",
                            notice="The delivery is queued again (same webhook-id).")

"""Console integration pages for API clients: list, create (secret shown once), edit, rotate,
disable."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from idproof.auth.clients import ClientView
from idproof.auth.scopes import KNOWN_SCOPES
from idproof.console.forms import (
    ClientEditForm,
    ClientForm,
    Empty,
    RotateForm,
    failure_text,
    parse_form,
)
from idproof.console.web import chosen_tenant, op_of, page, role_may
from idproof.core.errors import IdproofError
from idproof.operators.policy import Action, Resource, can
from idproof.operators.router import ConsoleExit, message, route
from idproof.operators.sessions import Live

MANAGE = Action.CLIENTS_MANAGE
_TEXTS = {"invalid_scope": "Choose at least one known scope.",
          "invalid_cidr": "Allowed IPs are addresses or CIDR ranges, one a line.",
          "invalid_origin": "Origins are https://host[:port] (http only on loopback).",
          "invalid_grace": "The grace period is 0 to 720 hours."}


def _page(request: Request, live: Live, tenant: str, *, status: int = 200,
          **ctx: Any) -> HTMLResponse:
    chosen, tenants = chosen_tenant(request, live, tenant)
    clients = request.app.state.container.clients.list(chosen.name)
    return page(request, live, "clients.html", status=status, tenant=chosen, tenants=tenants,
                clients=clients, scopes=sorted(KNOWN_SCOPES), **ctx)


def _owned(request: Request, live: Live, client_id: str) -> ClientView:
    """The client when the operator may manage its tenant; else 404 (as if none)."""
    view: ClientView | None = request.app.state.container.clients.get(client_id[:40],
                                                                       fresh=True)
    tenants = {t.id: t for t in chosen_tenant(request, live, "")[1]}
    if view is None or view.tenant_id not in tenants or not can(
            op_of(request, live), MANAGE,
            Resource(tenant_id=view.tenant_id, region=tenants[view.tenant_id].region)):
        raise ConsoleExit(message("Not found", "There is no such API client.", status=404,
                                  link="/console/clients", link_text="API clients"))
    return view


def _failed(request: Request, live: Live, tenant: str, exc: IdproofError) -> HTMLResponse:
    text = failure_text(exc, _TEXTS)
    return _page(request, live, tenant, status=exc.status, error=text)


@route("GET", "/console/clients", MANAGE)
def clients_list(request: Request, live: Annotated[Live, Depends(role_may(MANAGE))],
                 tenant: str = "") -> Response:
    return _page(request, live, tenant[:64])


@route("POST", "/console/clients", MANAGE)
async def clients_create(request: Request, live: Annotated[Live, Depends(role_may(MANAGE))],
                         tenant: str = "") -> Response:
    chosen, _ = chosen_tenant(request, live, tenant[:64])
    try:
        body = parse_form(ClientForm, await request.form())
        issued = request.app.state.container.clients.create(
            chosen.name, body.scopes, allowed_ips=body.ips(), name=body.name or None,
            allowed_origins=body.origins(), actor=live.operator_id)
    except IdproofError as exc:
        return _failed(request, live, chosen.name, exc)
    return _page(request, live, chosen.name, status=201, secret=issued.secret,
                 secret_for=issued.client.id,
                 notice="API client created. Copy its secret now: it is not shown again.")


@route("POST", "/console/clients/{client_id}/rotate", MANAGE)
async def clients_rotate(request: Request, client_id: str,
                         live: Annotated[Live, Depends(role_may(MANAGE))]) -> Response:
    view = _owned(request, live, client_id)
    try:
        body = parse_form(RotateForm, await request.form())
        issued = request.app.state.container.clients.rotate_secret(
            view.id, timedelta(hours=body.grace_hours), actor=live.operator_id)
    except IdproofError as exc:
        return _failed(request, live, view.tenant_name, exc)
    return _page(request, live, view.tenant_name, secret=issued.secret, secret_for=view.id,
                 notice=f"New secret issued; the old one works for {body.grace_hours} more "
                        "hours. Copy the new secret now: it is not shown again.")


@route("POST", "/console/clients/{client_id}/disable", MANAGE)
async def clients_disable(request: Request, client_id: str,
                          live: Annotated[Live, Depends(role_may(MANAGE))]) -> Response:
    view = _owned(request, live, client_id)
    try:
        parse_form(Empty, await request.form())
    except IdproofError as exc:
        return _failed(request, live, view.tenant_name, exc)
    request.app.state.container.clients.disable(view.id, actor=live.operator_id)
    return _page(request, live, view.tenant_name,
                 notice="The API client is disabled: its tokens stop working within a second.")


def _edit_page(request: Request, live: Live, view: ClientView, *, status: int = 200,
               **ctx: Any) -> HTMLResponse:
    return page(request, live, "client_edit.html", status=status, client=view,
                scopes=sorted(KNOWN_SCOPES), version=view.version, **ctx)


@route("GET", "/console/clients/{client_id}/edit", MANAGE)
def clients_edit_page(request: Request, client_id: str,
                      live: Annotated[Live, Depends(role_may(MANAGE))]) -> Response:
    return _edit_page(request, live, _owned(request, live, client_id))


@route("POST", "/console/clients/{client_id}/edit", MANAGE)
async def clients_edit(request: Request, client_id: str,
                       live: Annotated[Live, Depends(role_may(MANAGE))]) -> Response:
    view = _owned(request, live, client_id)
    try:
        body = parse_form(ClientEditForm, await request.form())
        saved = request.app.state.container.clients.edit(
            view.id, body.scopes, allowed_ips=body.ips(), allowed_origins=body.origins(),
            version=body.version, actor=live.operator_id)
    except IdproofError as exc:
        if exc.code == "client_conflict":
            text = ("Someone changed this API client since you opened the page. Nothing "
                    "was saved; the current settings are shown.")
        else:
            text = "Nothing was saved. " + failure_text(exc, _TEXTS)
        current = request.app.state.container.clients.get(view.id, fresh=True) or view
        return _edit_page(request, live, current, status=exc.status, error=text)
    return _edit_page(request, live, saved, notice="API client saved. New tokens carry the "
                      "new scopes; tokens already issued keep theirs until they expire.")
